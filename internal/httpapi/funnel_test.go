package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
)

type funnelJSON struct {
	From                time.Time  `json:"from"`
	To                  time.Time  `json:"to"`
	Joined              int64      `json:"joined"`
	Admitted            int64      `json:"admitted"`
	Held                int64      `json:"held"`
	Confirmed           int64      `json:"confirmed"`
	Cancelled           int64      `json:"cancelled"`
	Expired             int64      `json:"expired"`
	Abandoned           int64      `json:"abandoned"`
	AdmitRate           float64    `json:"admit_rate"`
	HoldRate            float64    `json:"hold_rate"`
	ConfirmRate         float64    `json:"confirm_rate"`
	QueueWaitP50Seconds *float64   `json:"queue_wait_p50_seconds"`
	QueueWaitP90Seconds *float64   `json:"queue_wait_p90_seconds"`
	AdmissionToHoldP50  *float64   `json:"admission_to_hold_p50_seconds"`
	AdmissionToHoldP90  *float64   `json:"admission_to_hold_p90_seconds"`
	HoldToConfirmP50    *float64   `json:"hold_to_confirm_p50_seconds"`
	SeatsLeft           int64      `json:"seats_left"`
	SeatsPerMinute      float64    `json:"seats_per_minute"`
	ForecastSoldOutAt   *time.Time `json:"forecast_sold_out_at"`
	Series              []struct {
		At        time.Time `json:"at"`
		Joined    int64     `json:"joined"`
		Admitted  int64     `json:"admitted"`
		Held      int64     `json:"held"`
		Confirmed int64     `json:"confirmed"`
		Cancelled int64     `json:"cancelled"`
		Expired   int64     `json:"expired"`
	} `json:"series"`
	Room roomStatsJSON `json:"room"`
}

// TestFunnel runs an on-sale through the waiting room over HTTP: 12
// buyers join, all are admitted, 8 hold (four with their admission pass,
// four without; one holds twice), 5 of them confirm and one cancels its
// hold. The funnel counts each step exactly as the waiting room and the
// bookings table have them (joined ≥ admitted ≥ held ≥ confirmed), its
// time from admission to hold is exactly the percentiles of the holds'
// created_at less their tickets' admitted_at, its per-minute series add
// up to the totals, its room figures are the room's, and bad ranges and
// unknown events are refused.
func TestFunnel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	buyers := f.buyers(t, 12)
	start := time.Now().UTC()
	for _, b := range buyers {
		joinRoom(t, f.env, b, e.ID)
	}
	if !poll(30*time.Second, func() bool {
		for _, b := range buyers {
			if roomTicket(t, f.env, b, e.ID).Status != "admitted" {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not everyone admitted within 30s")
	}
	// Four hold with their admission pass, four without (checked in
	// Redis); each hold's time from admission is the booking's created_at
	// less the ticket's admitted_at.
	var ids []string
	var toHold []time.Duration
	for i, b := range buyers[:8] {
		tk := roomTicket(t, f.env, b, e.ID)
		req := apptest.Request{Method: http.MethodPost, Path: "/api/v1/bookings", Token: b,
			Body: map[string]any{"event_id": e.ID, "quantity": 1}}
		if i < 4 {
			req.Header = http.Header{"Evently-Admission": {*tk.Pass}}
		}
		r := f.env.Do(t, req)
		if r.Status != http.StatusCreated {
			t.Fatalf("hold %d = %d %s", i, r.Status, r.Body)
		}
		var bk bookingJSON
		r.Decode(t, &bk)
		ids = append(ids, bk.ID)
		toHold = append(toHold, bk.CreatedAt.Sub(*tk.AdmittedAt))
	}
	// A second hold is not a first one.
	f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 1})
	for i, id := range ids[:5] {
		if r := f.env.Post(t, "/api/v1/bookings/"+id+"/confirm", buyers[i], nil); r.Status != 200 {
			t.Fatalf("confirm = %d %s", r.Status, r.Body)
		}
	}
	if r := f.env.Post(t, "/api/v1/bookings/"+ids[7]+"/cancel", buyers[7], nil); r.Status != 200 {
		t.Fatalf("cancel = %d %s", r.Status, r.Body)
	}

	path := "/api/v1/admin/analytics/events/" + e.ID + "/funnel"
	q := url.Values{"from": {start.Add(-time.Minute).Format(time.RFC3339)}, "to": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}}
	r := f.env.Get(t, path+"?"+q.Encode(), f.admin)
	if r.Status != http.StatusOK {
		t.Fatalf("GET funnel = %d %s", r.Status, r.Body)
	}
	var fn funnelJSON
	r.Decode(t, &fn)

	// The bookings table's own figures.
	var heldBuyers, confirmedBuyers, cancelled, seatsLeft int64
	if err := f.db.QueryRow(context.Background(), `SELECT count(DISTINCT user_id),
		count(DISTINCT user_id) FILTER (WHERE confirmed_at IS NOT NULL), count(*) FILTER (WHERE status = 'cancelled'),
		(SELECT count(*) FROM seats WHERE event_id = $1 AND status <> 'booked')
		FROM bookings WHERE event_id = $1`, e.ID).Scan(&heldBuyers, &confirmedBuyers, &cancelled, &seatsLeft); err != nil {
		t.Fatal(err)
	}
	if heldBuyers != 8 || confirmedBuyers != 5 || cancelled != 1 {
		t.Fatalf("bookings table: %d held, %d confirmed, %d cancelled; want 8, 5, 1", heldBuyers, confirmedBuyers, cancelled)
	}
	if fn.Joined != 12 || fn.Admitted != 12 || fn.Held != heldBuyers || fn.Confirmed != confirmedBuyers ||
		fn.Cancelled != cancelled || fn.Expired != 0 || fn.SeatsLeft != seatsLeft {
		t.Errorf("funnel = joined %d, admitted %d, held %d, confirmed %d, cancelled %d, expired %d, seats left %d; want 12, 12, %d, %d, %d, 0, %d",
			fn.Joined, fn.Admitted, fn.Held, fn.Confirmed, fn.Cancelled, fn.Expired, fn.SeatsLeft, heldBuyers, confirmedBuyers, cancelled, seatsLeft)
	}
	if !(fn.Joined >= fn.Admitted && fn.Admitted >= fn.Held && fn.Held >= fn.Confirmed) {
		t.Errorf("funnel does not narrow: %+v", fn)
	}
	// The 4 admitted without a hold are still admitted: not abandoned yet.
	if fn.Abandoned != 0 || fn.AdmitRate != 1 || fn.HoldRate != 0.6667 || fn.ConfirmRate != 0.625 {
		t.Errorf("abandoned %d, rates %v %v %v; want 0, 1, 0.6667, 0.625", fn.Abandoned, fn.AdmitRate, fn.HoldRate, fn.ConfirmRate)
	}
	if fn.QueueWaitP50Seconds == nil || fn.QueueWaitP90Seconds == nil || *fn.QueueWaitP90Seconds < *fn.QueueWaitP50Seconds ||
		*fn.QueueWaitP90Seconds > 30 || fn.HoldToConfirmP50 == nil {
		t.Errorf("durations: queue p50 %v p90 %v, hold→confirm p50 %v", fn.QueueWaitP50Seconds, fn.QueueWaitP90Seconds, fn.HoldToConfirmP50)
	}
	// Exact, nearest rank over the eight: the 4th and the 8th.
	slices.Sort(toHold)
	if fn.AdmissionToHoldP50 == nil || fn.AdmissionToHoldP90 == nil ||
		*fn.AdmissionToHoldP50 != toHold[3].Seconds() || *fn.AdmissionToHoldP90 != toHold[7].Seconds() {
		t.Errorf("admission to hold p50 %v p90 %v, want %v and %v", fn.AdmissionToHoldP50, fn.AdmissionToHoldP90,
			toHold[3].Seconds(), toHold[7].Seconds())
	}
	if fn.SeatsPerMinute != 0.5 || fn.ForecastSoldOutAt == nil {
		t.Errorf("forecast: %v seats a minute (5 in 10 minutes), sold out at %v; want 0.5 and a time", fn.SeatsPerMinute, fn.ForecastSoldOutAt)
	}
	// The room's figures now, as its admin endpoint gives them.
	if stats := roomStats(t, f.env, f.admin, e.ID); fn.Room != stats || !fn.Room.Enabled || fn.Room.AdmitPerMinute != 600 ||
		fn.Room.Waiting != 0 || fn.Room.AdmittedTotal != 12 {
		t.Errorf("funnel's room = %+v, the room's stats = %+v; want them equal, enabled at 600 a minute, none waiting, 12 admitted", fn.Room, stats)
	}
	var sum funnelJSON
	for i, m := range fn.Series {
		if i > 0 && m.At.Sub(fn.Series[i-1].At) != time.Minute {
			t.Fatalf("series minute %d at %v after %v", i, m.At, fn.Series[i-1].At)
		}
		sum.Joined += m.Joined
		sum.Admitted += m.Admitted
		sum.Held += m.Held
		sum.Confirmed += m.Confirmed
		sum.Cancelled += m.Cancelled
	}
	if n := int(fn.To.Sub(fn.From) / time.Minute); len(fn.Series) != n {
		t.Errorf("series has %d minutes, want %d", len(fn.Series), n)
	}
	if sum.Joined != 12 || sum.Admitted != 12 || sum.Held != 9 || sum.Confirmed != 5 || sum.Cancelled != 1 {
		t.Errorf("series adds up to %+v; want 12 joined, 12 admitted, 9 bookings made, 5 confirmed, 1 cancelled", sum)
	}

	// A range before the sale is empty.
	hour := start.Truncate(time.Minute).Add(-3 * time.Hour)
	old := url.Values{"from": {hour.Format(time.RFC3339)}, "to": {hour.Add(time.Hour).Format(time.RFC3339)}}
	r = f.env.Get(t, path+"?"+old.Encode(), f.admin)
	var empty funnelJSON
	r.Decode(t, &empty)
	if r.Status != 200 || empty.Joined != 0 || empty.Admitted != 0 || empty.Held != 0 || len(empty.Series) != 60 {
		t.Errorf("funnel of an earlier hour = %d: joined %d, admitted %d, held %d over %d minutes; want zeros over 60",
			r.Status, empty.Joined, empty.Admitted, empty.Held, len(empty.Series))
	}

	for _, c := range []struct{ query, field string }{
		{"from=yesterday", "from"},
		{"to=2027-13-01", "to"},
		{"from=2027-03-01T10:00:00Z&to=2027-03-01T09:00:00Z", "to"},
		{"from=2027-03-01&to=2027-03-03", "to"},
	} {
		wantProblem(t, "funnel?"+c.query, f.env.Get(t, path+"?"+c.query, f.admin), 400, "validation_failed", c.field)
	}
	wantProblem(t, "funnel of an unknown event", f.env.Get(t, "/api/v1/admin/analytics/events/0193a0b1-0000-7000-8000-000000000000/funnel", f.admin), 404, "not_found")
	wantProblem(t, "funnel of a bad id", f.env.Get(t, "/api/v1/admin/analytics/events/nope/funnel", f.admin), 404, "not_found")
	if r := f.env.Get(t, path, f.user); r.Status != 403 {
		t.Errorf("funnel as a user = %d, want 403", r.Status)
	}
	if r := f.env.Get(t, path, ""); r.Status != 401 {
		t.Errorf("funnel without a token = %d, want 401", r.Status)
	}
}

// TestFunnelStream: an admin's stream sends the funnel with the room's
// figures at once, matching the spec, and again within seconds with a new
// join counted in both; users and bad ranges are refused before it
// starts.
func TestFunnelStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, withRoom(map[string]any{"enabled": true, "admit_per_minute": 600}))
	buyers := f.buyers(t, 2)
	joinRoom(t, f.env, buyers[0], e.ID)
	path := "/api/v1/admin/analytics/events/" + e.ID + "/funnel/stream"
	const spec = "/api/v1/admin/analytics/events/{id}/funnel/stream"
	st, r := openStream(t, f.env, streamReq{Path: path + "?access_token=" + url.QueryEscape(f.admin)})
	if r != nil {
		t.Fatalf("open funnel stream = %d %s", r.Status, r.Body)
	}
	first, _ := expect[funnelJSON](t, st, spec, "funnel", 10*time.Second)
	if first.Joined != 1 || len(first.Series) != 60 {
		t.Fatalf("first funnel event: joined %d over %d minutes, want 1 over 60", first.Joined, len(first.Series))
	}
	if r := first.Room; !r.Enabled || r.AdmitPerMinute != 600 || r.Waiting+r.Active != 1 {
		t.Errorf("first funnel event's room = %+v, want enabled at 600 a minute with its one buyer waiting or admitted", r)
	}
	joinRoom(t, f.env, buyers[1], e.ID)
	if !poll(15*time.Second, func() bool {
		next, _ := expect[funnelJSON](t, st, spec, "funnel", 10*time.Second)
		return next.Joined == 2 && next.Room.Waiting+next.Room.Active == 2
	}) {
		t.Fatal("the stream never counted the second join")
	}

	if _, r := openStream(t, f.env, streamReq{Path: path, Token: f.user}); r == nil || r.Status != 403 {
		t.Errorf("funnel stream as a user: want 403, got %v", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: path + "?from=soon", Token: f.admin}); r == nil || r.Status != 400 {
		t.Errorf("funnel stream with a bad from: want 400, got %v", r)
	}
	if _, r := openStream(t, f.env, streamReq{Path: "/api/v1/admin/analytics/events/0193a0b1-0000-7000-8000-000000000000/funnel/stream", Token: f.admin}); r == nil || r.Status != 404 {
		t.Errorf("funnel stream of an unknown event: want 404, got %v", r)
	}
}
