package httpapi_test

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/evently/evently/internal/apptest"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

var screenshotDir = flag.String("screenshots", "", "write the browser tests' screenshots to this directory (e.g. ../../docs)")

// newBrowser starts a headless Chromium for t, or skips t when there is
// none. The flags keep it from reaching for the network on its own (this
// machine may have none): only the pages a test opens make requests.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (Debian: apt-get install chromium; .ci/run installs it)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser, for the life of ctx: no timeout
	// on it, only on what follows.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// signIn waits for a page's sign-in form (the waiting-room page and the
// live view have the same) and signs in with it.
func signIn(email, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin-button")),
	)
}

// requestLog records the URL of every request the page makes.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) listen(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			l.mu.Lock()
			l.urls = append(l.urls, e.Request.URL)
			l.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the browser: %v", err)
	}
}

// outside lists the requests to any host other than host.
func (l *requestLog) outside(host string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, raw := range l.urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Scheme != "blob" && u.Host != host) {
			out = append(out, raw)
		}
	}
	return out
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.urls)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if *screenshotDir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(*screenshotDir, name), png, 0o644); err != nil {
		t.Errorf("write screenshot: %v", err)
	}
}

// TestDocsRenderInBrowser: /docs, rendered by the embedded Redoc in a real
// browser, shows the POST /api/v1/bookings operation with its request
// sample (an example body), and the page asks nothing of any host but the
// server.
func TestDocsRenderInBrowser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	env := apptest.Start(t)
	var reqs requestLog
	reqs.listen(t, ctx)
	const op = chromedp.CSS(`[id="tag/Bookings/operation/createBooking"]`)
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.URL+"/docs"),
		chromedp.WaitVisible(op),
		chromedp.ScrollIntoView(op),
	)
	var section string
	if err == nil {
		section, err = chromedp.Run(ctx, chromedp.Text(op))
	}
	if err != nil {
		t.Fatalf("render /docs: %v (requests: %v)", err, reqs.urls)
	}
	for _, want := range []string{"Hold seats", "/api/v1/bookings", "Request samples", `"event_id"`, "01936d1f-0a4b-7d21-8c3e-5b9a0f1e2d3c"} {
		if !strings.Contains(section, want) {
			t.Errorf("the POST /bookings section does not show %q", want)
		}
	}
	u, _ := url.Parse(env.URL)
	if out := reqs.outside(u.Host); len(out) > 0 {
		t.Errorf("/docs made requests outside the server: %v", out)
	}
	if reqs.count() < 3 {
		t.Errorf("saw %d requests, want the page, its script and the spec at least: the log does not work", reqs.count())
	}
}

// TestWaitPageInBrowser: a buyer opens /wait/{id} on a phone-sized
// screen, signs in with the form, joins behind four others, watches the
// place count down as the admitter lets people in, and once admitted is
// sent to the storefront with a pass that the API accepts for a hold.
func TestWaitPageInBrowser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>Checkout</title><h1>Checkout</h1>"))
	}))
	t.Cleanup(shop.Close)
	f := newFixture(t, apptest.WithEnv("EVENTLY_STOREFRONT_URL", shop.URL+"/checkout"))
	if r := f.env.Post(t, "/api/v1/auth/register", "", map[string]any{
		"email": "grace@example.com", "password": "correct horse battery staple", "name": "Grace Hopper",
	}); r.Status != http.StatusCreated {
		t.Fatalf("register = %d %s", r.Status, r.Body)
	}
	e := f.publish(t, set("name", "Hamlet — opening night"), withRoom(map[string]any{"enabled": true, "admit_per_minute": 20}))
	for _, b := range f.buyers(t, 4) {
		joinRoom(t, f.env, b, e.ID)
	}

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(f.env.URL+"/wait/"+e.ID),
		signIn("grace@example.com", "correct horse battery staple"),
		chromedp.WaitVisible(chromedp.ID("join-button")),
		chromedp.Click(chromedp.ID("join-button")),
		chromedp.WaitVisible(chromedp.ID("ticket")),
	); err != nil {
		t.Fatalf("sign in and join: %v", err)
	}

	// Watch the place in line until the page leaves for the storefront.
	var positions []int
	var spoken string
	shotTaken := false
	deadline := time.Now().Add(60 * time.Second)
	var location string
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if location = loc; strings.HasPrefix(location, shop.URL) {
			break
		}
		// The page may be leaving: a failed read is tried again.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pos, err := chromedp.Run(rctx, chromedp.Text(chromedp.ID("position")))
		var status string
		if err == nil {
			status, err = chromedp.Run(rctx, chromedp.Text(chromedp.ID("status")))
		}
		cancel()
		if err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(pos)); err == nil && n > 0 && (len(positions) == 0 || positions[len(positions)-1] != n) {
				positions = append(positions, n)
				if !shotTaken && n <= 3 {
					screenshot(t, ctx, "waiting-room.png")
					shotTaken = true
				}
			}
			if strings.Contains(status, "in line") {
				spoken = status
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(location, shop.URL+"/checkout") {
		t.Fatalf("never sent to the storefront within 60s; at %s after positions %v", location, positions)
	}
	if len(positions) < 2 || positions[0] < 2 {
		t.Errorf("positions seen = %v, want the place to count down from behind the others", positions)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] >= positions[i-1] {
			t.Errorf("positions seen = %v, want them decreasing", positions)
		}
	}
	if !strings.Contains(spoken, "You are number") {
		t.Errorf("the live region said %q, want the place in line", spoken)
	}

	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("event_id") != e.ID {
		t.Errorf("storefront address %s lacks event_id=%s", location, e.ID)
	}
	m := regexp.MustCompile(`^admission=(.+)$`).FindStringSubmatch(u.Fragment)
	if m == nil {
		t.Fatalf("storefront address %s carries no admission pass in its fragment", location)
	}
	pass, _ := url.QueryUnescape(m[1])
	var sess struct {
		AccessToken string `json:"access_token"`
	}
	r := f.env.Post(t, "/api/v1/auth/login", "", map[string]any{"email": "grace@example.com", "password": "correct horse battery staple"})
	r.Decode(t, &sess)
	hold := f.env.Do(t, apptest.Request{
		Method: http.MethodPost, Path: "/api/v1/bookings", Token: sess.AccessToken,
		Header: http.Header{"Evently-Admission": {pass}},
		Body:   map[string]any{"event_id": e.ID, "quantity": 1},
	})
	if hold.Status != http.StatusCreated {
		t.Errorf("hold with the page's pass = %d %s, want 201", hold.Status, hold.Body)
	}
}
