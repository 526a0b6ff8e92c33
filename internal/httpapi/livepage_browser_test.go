package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// waitText waits until the element with the given id shows want, and
// fails t with what it showed last if it does not within d.
func waitText(t *testing.T, ctx context.Context, id, want string, d time.Duration) {
	t.Helper()
	var got string
	deadline := time.Now().Add(d)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		text, err := chromedp.Run(rctx, chromedp.Text(chromedp.ID(id)))
		cancel()
		if err == nil {
			if got = strings.TrimSpace(text); got == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("#%s shows %q after %v, want %q", id, got, d, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLivePageInBrowser: an organiser opens /admin/live/{id} on a laptop
// screen and signs in with the form; five buyers join a room that admits
// two at a time, the two hold a seat each and one confirms, all through
// the API, and the page's figures follow, live, to the exact counts:
// joined, admitted, waiting, admitted now, held, confirmed, the
// conversions and the seats left. The page asks nothing of any host but
// the server. Signed out, a buyer's account is refused with a message and
// keeps no session, as is a buyer's session already in the tab (the API
// answers 403); an unknown event says so.
func TestLivePageInBrowser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	start := time.Now()
	f := newFixture(t, adminAccount()...)
	register(t, f.env, "grace@example.com", password, "Grace Hopper")
	e := f.publish(t, set("name", "Hamlet — opening night"),
		withRoom(map[string]any{"enabled": true, "admit_per_minute": 600, "max_active": 2}))
	var reqs requestLog
	reqs.listen(t, ctx)

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(f.env.URL+"/admin/live/"+e.ID),
		signIn(adminEmail, adminPassword),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
	); err != nil {
		t.Fatalf("sign in as the admin: %v", err)
	}
	const live = 20 * time.Second
	waitText(t, ctx, "event-name", "Hamlet — opening night", live)
	waitText(t, ctx, "connection", "● Live", live)
	waitText(t, ctx, "joined", "0", live)
	waitText(t, ctx, "waiting", "0", live)
	waitText(t, ctx, "admit-per-minute", "600 /min", live)
	waitText(t, ctx, "admit-mode", "the organiser", live)
	waitText(t, ctx, "seats-left", "700", live)
	waitText(t, ctx, "forecast", "Nothing selling yet", live)

	buyers := f.buyers(t, 5)
	for _, b := range buyers {
		joinRoom(t, f.env, b, e.ID)
	}
	var admitted []string
	if !poll(30*time.Second, func() bool {
		admitted = admitted[:0]
		for _, b := range buyers {
			if roomTicket(t, f.env, b, e.ID).Status == "admitted" {
				admitted = append(admitted, b)
			}
		}
		return len(admitted) == 2
	}) {
		t.Fatalf("%d buyers admitted after 30s, want 2 (max_active)", len(admitted))
	}
	waitText(t, ctx, "joined", "5", live)
	waitText(t, ctx, "admitted", "2", live)
	waitText(t, ctx, "admit-rate", "40% of joined", live)
	waitText(t, ctx, "waiting", "3", live)
	waitText(t, ctx, "active", "2", live)
	waitText(t, ctx, "admitted-last-minute", "2 /min", live)

	first := f.hold(t, admitted[0], map[string]any{"event_id": e.ID, "quantity": 1})
	f.hold(t, admitted[1], map[string]any{"event_id": e.ID, "quantity": 1})
	if r := f.env.Post(t, "/api/v1/bookings/"+first.ID+"/confirm", admitted[0], nil); r.Status != http.StatusOK {
		t.Fatalf("confirm = %d %s", r.Status, r.Body)
	}
	waitText(t, ctx, "held", "2", live)
	waitText(t, ctx, "hold-rate", "100% of admitted", live)
	waitText(t, ctx, "confirmed", "1", live)
	waitText(t, ctx, "confirm-rate", "50% of held", live)
	waitText(t, ctx, "seats-left", "699", live)
	waitText(t, ctx, "seats-per-minute", "0.1 /min", live)
	waitText(t, ctx, "expiry-rate", "0%", live)
	for _, id := range []string{"confirm-p50", "hold-p50", "hold-p90"} {
		if text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id))); err != nil || !strings.HasSuffix(text, " s") {
			t.Errorf("#%s shows %q (%v), want a duration", id, text, err)
		}
	}
	if lines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chart polyline').length`)); err != nil || lines != 4 {
		t.Errorf("chart draws %d lines (%v), want 4", lines, err)
	}
	screenshot(t, ctx, "live-view.png")
	t.Logf("figures followed in %v", time.Since(start).Round(time.Millisecond))

	u, _ := url.Parse(f.env.URL)
	if out := reqs.outside(u.Host); len(out) > 0 {
		t.Errorf("the live view made requests outside the server: %v", out)
	}

	// A buyer's account is refused, and its session not kept.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("signout-button")),
		signIn("grace@example.com", password),
		chromedp.WaitVisible(chromedp.ID("refused")),
	); err != nil {
		t.Fatalf("sign in as a buyer: %v", err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("refused-text"))); !strings.Contains(text, "not an admin account") {
		t.Errorf("refusal reads %q, want it to say the account is not an admin account", text)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('dashboard').hidden`)); err != nil || !hidden {
		t.Errorf("the figures stay on show after a buyer signed in (%v)", err)
	}
	if token, err := chromedp.Run(ctx, chromedp.Evaluate[*string](`sessionStorage.getItem('evently.access_token')`)); err != nil || token != nil {
		t.Errorf("the refused account's token is kept in sessionStorage: %v (%v)", token, err)
	}

	// A buyer's session the tab already holds (as the waiting-room page
	// keeps it) is refused by the API (403), and the page says so.
	buyer := login(t, f.env, "grace@example.com", password)
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('evently.access_token', `+strconv.Quote(buyer.AccessToken)+`)`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("refused")),
	); err != nil {
		t.Fatalf("open the page with a buyer's session: %v", err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("refused-text"))); !strings.Contains(text, "not an admin account") {
		t.Errorf("refusal of a buyer's session reads %q, want it to say the account is not an admin account", text)
	}

	// An admin opening an unknown event is told there is none.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.env.URL+"/admin/live/0193a0b1-0000-7000-8000-000000000000"),
		signIn(adminEmail, adminPassword),
	); err != nil {
		t.Fatalf("open an unknown event: %v", err)
	}
	waitText(t, ctx, "event-name", "No such event", live)
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}

// TestLivePagePollsWithoutStream: in a browser without EventSource the
// live view polls the funnel instead, says so, and still follows the
// on-sale: a join and its admission show within a poll or two.
func TestLivePagePollsWithoutStream(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	f := newFixture(t, adminAccount()...)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.EventSource;`}); err != nil {
		t.Fatalf("remove EventSource: %v", err)
	}
	var reqs requestLog
	reqs.listen(t, ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.env.URL+"/admin/live/"+e.ID),
		signIn(adminEmail, adminPassword),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
	); err != nil {
		t.Fatalf("sign in as the admin: %v", err)
	}
	const polled = 20 * time.Second
	waitText(t, ctx, "connection", "Checking every 5 s", polled)
	waitText(t, ctx, "joined", "0", polled)
	buyer := f.buyers(t, 1)[0]
	joinRoom(t, f.env, buyer, e.ID)
	waitText(t, ctx, "joined", "1", polled)
	waitText(t, ctx, "admitted", "1", polled)
	waitText(t, ctx, "active", "1", polled)
	waitText(t, ctx, "waiting", "0", polled)
	reqs.mu.Lock()
	defer reqs.mu.Unlock()
	for _, u := range reqs.urls {
		if strings.Contains(u, "/stream") {
			t.Errorf("the page opened a stream without EventSource: %s", u)
		}
	}
}
