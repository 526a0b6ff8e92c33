package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/apptest"
)

// updateWithin is how soon a change must reach a stream.
const updateWithin = time.Second

// TestAvailabilityStream: a stream starts with the event's counts, and
// each hold, confirmation and cancellation reaches it within a second, as
// one event with the new counts of the section concerned.
func TestAvailabilityStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	s, r := openStream(t, f.env, streamReq{Path: availabilityStreamPath(e.ID)})
	if r != nil {
		t.Fatalf("GET availability stream = %d %s, want 200", r.Status, r.Body)
	}
	if cc := s.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	first, _ := expect[liveAvailabilityJSON](t, s, availabilitySpecPath, "availability", updateWithin)
	if first.EventID != e.ID || first.Available != 700 || first.Held != 0 || first.Booked != 0 || len(first.Sections) != 2 ||
		first.Sections[0].Name != "Balcony" || first.Sections[0].Capacity != 600 || first.Sections[1].Available != 100 {
		t.Fatalf("initial availability = %+v, want 700 seats available in Balcony (600) and Floor (100)", first)
	}

	step := func(what string, do func(), section string, available, held, booked int) {
		t.Helper()
		start := time.Now()
		do()
		got, ev := expect[liveAvailabilityJSON](t, s, availabilitySpecPath, "availability", updateWithin)
		if a, h, b := got.section(section); a != available || h != held || b != booked {
			t.Errorf("%s: %s = %d available, %d held, %d booked; want %d, %d, %d (%s)",
				what, section, a, h, b, available, held, booked, ev.Data)
		}
		if got.Available+got.Held+got.Booked != 700 {
			t.Errorf("%s: totals %+v do not add up to 700", what, got)
		}
		t.Logf("%s reached the stream %v after the request was sent", what, ev.At.Sub(start))
	}
	var b bookingJSON
	step("hold", func() {
		b = f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 2, "section": "Floor"})
	}, "Floor", 98, 2, 0)
	step("confirm", func() {
		if r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/confirm", buyer, nil); r.Status != 200 {
			t.Fatalf("confirm = %d %s", r.Status, r.Body)
		}
	}, "Floor", 98, 0, 2)
	step("cancel", func() {
		if r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", buyer, nil); r.Status != 200 {
			t.Fatalf("cancel = %d %s", r.Status, r.Body)
		}
	}, "Floor", 100, 0, 0)
	// Nothing changed: nothing is sent.
	select {
	case ev := <-s.Events:
		t.Errorf("an event without a change: %s %s", ev.Name, ev.Data)
	case <-time.After(300 * time.Millisecond):
	}

	// Drafts are hidden, unknown events too; an admin sees a draft.
	draft := f.create(t, eventBody())
	if _, r := openStream(t, f.env, streamReq{Path: availabilityStreamPath(draft.ID)}); r == nil || r.Status != 404 {
		t.Errorf("stream of a draft = %v, want 404", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: availabilityStreamPath("01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a")}); r == nil || r.Status != 404 {
		t.Errorf("stream of an unknown event = %v, want 404", r)
	}
	ds, r := openStream(t, f.env, streamReq{Path: availabilityStreamPath(draft.ID), Token: f.admin})
	if r != nil {
		t.Fatalf("admin's stream of a draft = %d %s, want 200", r.Status, r.Body)
	}
	expect[liveAvailabilityJSON](t, ds, availabilitySpecPath, "availability", updateWithin)
}

// TestWaitingRoomStream: a buyer's stream starts with their ticket (the
// body GET /waiting-room answers) and follows it as the line moves: each
// admission reaches the streams of the admitted buyer within a second of
// its admission, and positions fall in between. Leaving ends the stream
// with a problem event.
func TestWaitingRoomStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	buyers := f.buyers(t, 4)
	if _, r := openStream(t, f.env, streamReq{Path: roomStreamPath(e.ID), Token: buyers[0]}); r == nil || r.Status != 404 {
		t.Fatalf("stream before joining = %v, want 404", r)
	}
	for _, b := range buyers {
		joinRoom(t, f.env, b, e.ID)
	}
	streams := make([]*sseStream, len(buyers))
	firsts := make([]ticketJSON, len(buyers))
	for i, b := range buyers {
		s, r := openStream(t, f.env, streamReq{Path: roomStreamPath(e.ID), Token: b})
		if r != nil {
			t.Fatalf("stream of buyer %d = %d %s", i, r.Status, r.Body)
		}
		streams[i] = s
		got, _ := expect[ticketJSON](t, s, roomStreamSpecPath, "ticket", updateWithin)
		firsts[i] = got
		// The same body as the GET (read after it, so at most one
		// admission later).
		polled := roomTicket(t, f.env, b, e.ID)
		if got.EventID != e.ID || !got.JoinedAt.Equal(polled.JoinedAt) || (got.Status == polled.Status && !samePosition(got, polled)) {
			t.Errorf("buyer %d: first event %+v, GET %+v", i, got, polled)
		}
	}

	// Follow each stream until its buyer is admitted, timing each
	// admission.
	for i, s := range streams {
		last := firsts[i]
		deadline := time.Now().Add(30 * time.Second)
		for last.Status != "admitted" {
			if time.Now().After(deadline) {
				t.Fatalf("buyer %d not admitted within 30s: %+v", i, last)
			}
			tk, ev := expect[ticketJSON](t, s, roomStreamSpecPath, "ticket", 30*time.Second)
			if last.Position != nil && tk.Position != nil && *tk.Position >= *last.Position {
				t.Errorf("buyer %d: position %d after %d: sent without a change", i, *tk.Position, *last.Position)
			}
			if tk.Status == "admitted" {
				if tk.AdmittedAt == nil {
					t.Fatalf("admitted ticket without admitted_at: %s", ev.Data)
				}
				lag := ev.At.Sub(*tk.AdmittedAt)
				if lag > updateWithin && i > 0 {
					// Buyer 0 may have been admitted before its stream opened.
					t.Errorf("buyer %d: admission reached the stream %v after it happened, want within %v", i, lag, updateWithin)
				}
				t.Logf("buyer %d: admitted; the stream had it %v later", i, lag)
			}
			last = tk
		}
	}
	if n := len(streams[3].Events); n != 0 {
		t.Errorf("%d more events after admission", n)
	}

	// Leaving ends the stream with a problem event.
	if r := f.env.Do(t, apptest.Request{Method: http.MethodDelete, Path: roomPath(e.ID), Token: buyers[3]}); r.Status != 204 {
		t.Fatalf("leave = %d", r.Status)
	}
	// The stream notices at its next signal: another admission or its
	// heartbeat; prod it with a join that admits someone.
	late := f.buyers(t, 1)[0]
	joinRoom(t, f.env, late, e.ID)
	p, _ := expect[struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}](t, streams[3], roomStreamSpecPath, "problem", 20*time.Second)
	if p.Code != "not_found" || p.Status != 404 {
		t.Errorf("problem = %+v, want 404 not_found", p)
	}
	if !streams[3].ended(2 * time.Second) {
		t.Error("stream still open after its problem event")
	}
}

func samePosition(a, b ticketJSON) bool {
	if a.Position == nil || b.Position == nil {
		return a.Position == b.Position
	}
	// The GET came a moment later: the line may have moved by one since.
	return *b.Position == *a.Position || *b.Position == *a.Position-1
}

// TestStreamAuthentication: the waiting-room stream needs a token, in the
// Authorization header or as ?access_token= (for EventSource), not both.
func TestStreamAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	buyer := f.buyers(t, 1)[0]
	joinRoom(t, f.env, buyer, e.ID)
	path := roomStreamPath(e.ID)
	q := "?access_token=" + url.QueryEscape(buyer)

	if _, r := openStream(t, f.env, streamReq{Path: path}); r == nil || r.Status != 401 {
		t.Errorf("no token = %v, want 401", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: path + "?access_token=not-a-token"}); r == nil || r.Status != 401 {
		t.Errorf("bad query token = %v, want 401", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: path + q, Token: buyer}); r == nil || r.Status != 400 {
		t.Errorf("token in the header and the query = %v, want 400", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: path + q + "&access_token=" + url.QueryEscape(buyer)}); r == nil || r.Status != 400 {
		t.Errorf("two query tokens = %v, want 400", r)
	}
	s, r := openStream(t, f.env, streamReq{Path: path + q})
	if r != nil {
		t.Fatalf("query token = %d %s, want 200", r.Status, r.Body)
	}
	tk, _ := expect[ticketJSON](t, s, roomStreamSpecPath, "ticket", updateWithin)
	if tk.EventID != e.ID {
		t.Errorf("ticket = %+v", tk)
	}
	// Other operations do not read it.
	if r := f.env.Get(t, roomPath(e.ID)+q, ""); r.Status != 401 {
		t.Errorf("GET ticket with only ?access_token = %d, want 401", r.Status)
	}
}

// TestStreamsAcrossInstances: two evently processes on one database and
// Redis; a hold made through the first reaches a stream of the second
// within a second.
func TestStreamsAcrossInstances(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := apptest.Start(t, apptest.WithEnv("DATABASE_URL", f.env.DatabaseURL), apptest.WithEnv("REDIS_URL", f.env.RedisURL))
	e := f.publish(t)
	buyer := f.buyers(t, 1)[0]
	s, r := openStream(t, b, streamReq{Path: availabilityStreamPath(e.ID)})
	if r != nil {
		t.Fatalf("stream on B = %d %s", r.Status, r.Body)
	}
	expect[liveAvailabilityJSON](t, s, availabilitySpecPath, "availability", updateWithin)
	start := time.Now()
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 3, "section": "Balcony"}) // through A
	got, ev := expect[liveAvailabilityJSON](t, s, availabilitySpecPath, "availability", updateWithin)
	if a, h, _ := got.section("Balcony"); a != 597 || h != 3 {
		t.Errorf("B's stream after A's hold: Balcony %d available, %d held; want 597, 3", a, h)
	}
	t.Logf("a hold through A reached B's stream %v after it was sent", ev.At.Sub(start))
}

// TestStreamHeartbeats: a quiet stream carries a comment line every
// heartbeat interval.
func TestStreamHeartbeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(_ map[string]string, o *app.Options) { o.StreamHeartbeat = 100 * time.Millisecond })
	e := f.publish(t)
	s, r := openStream(t, f.env, streamReq{Path: availabilityStreamPath(e.ID)})
	if r != nil {
		t.Fatalf("stream = %d %s", r.Status, r.Body)
	}
	expect[liveAvailabilityJSON](t, s, availabilitySpecPath, "availability", updateWithin)
	start := time.Now()
	for i := range 3 {
		select {
		case c := <-s.Comments:
			if c != "heartbeat" {
				t.Errorf("comment %q, want heartbeat", c)
			}
		case <-time.After(time.Second):
			t.Fatalf("heartbeat %d missing after %v", i+1, time.Since(start))
		}
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("3 heartbeats at 100 ms took %v", took)
	}
}

// TestStreamCheckCatchesDrift proves the spec check of stream events can
// fail: an unknown event name, a field the schema does not have, a wrong
// type.
func TestStreamCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	good := `{"event_id":"01936d1e-8f5a-7c3e-9a51-2f0b6c1d4e7a","available":1,"held":0,"booked":0,` +
		`"sections":[{"name":"Floor","capacity":1,"available":1,"held":0,"booked":0}]}`
	if err := checkEvent(availabilitySpecPath, sseEvent{Name: "availability", Data: good}); err != nil {
		t.Fatalf("a good event is refused: %v", err)
	}
	for name, ev := range map[string]sseEvent{
		"unknown event": {Name: "seats", Data: good},
		"extra field":   {Name: "availability", Data: strings.Replace(good, `"held":0,`, `"held":0,"sold":0,`, 1)},
		"wrong type":    {Name: "availability", Data: strings.Replace(good, `"available":1`, `"available":"1"`, 1)},
		"ticket here":   {Name: "ticket", Data: good},
	} {
		if err := checkEvent(availabilitySpecPath, ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
