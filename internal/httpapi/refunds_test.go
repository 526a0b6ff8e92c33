package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/postgres"
)

type refundQuoteJSON struct {
	Status       string `json:"status"`
	Cancellable  bool   `json:"cancellable"`
	Percent      int    `json:"refund_percent"`
	RefundCents  int64  `json:"refund_cents"`
	TotalCents   int64  `json:"total_cents"`
	RefundPolicy []struct {
		Hours   int `json:"until_hours_before_start"`
		Percent int `json:"percent"`
	} `json:"refund_policy"`
}

type refundedJSON struct {
	bookingJSON
	RefundCents *int64 `json:"refund_cents"`
}

var schedule = []any{
	map[string]any{"until_hours_before_start": 168, "percent": 100},
	map[string]any{"until_hours_before_start": 24, "percent": 50},
}

func (f *fixture) quote(t *testing.T, token, id string) refundQuoteJSON {
	t.Helper()
	var q refundQuoteJSON
	f.env.Get(t, "/api/v1/bookings/"+id+"/refund-quote", token).Want(t, http.StatusOK).Decode(t, &q)
	return q
}

func (f *fixture) refunded(t *testing.T, token, path string) refundedJSON {
	t.Helper()
	var b refundedJSON
	r := f.env.Get(t, path, token)
	r.Decode(t, &b)
	return b
}

// TestRefundsEndToEnd: three events with one schedule (100% until 7 days
// before, 50% until 24 hours before, nothing after), starting in 10 days,
// 3 days and 12 hours: each booking's quote is its step's, cancelling
// records it as refund_cents and sends it in booking.cancelled; an event
// cancelled by its organiser refunds in full whatever its schedule; and
// every analytics figure is net of the refunds and adds up.
func TestRefundsEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_refunds_0123"
	rc := newReceiver(t, secret, func(string, int) int { return http.StatusNoContent })
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL+"/hooks"), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", secret))
	starts := func(d time.Duration) func(map[string]any) {
		return set("starts_at", time.Now().Add(d).UTC().Format(time.RFC3339))
	}
	ga := set("sections", []any{map[string]any{"name": "Floor", "price_cents": 1000, "capacity": 20}})
	withPolicy := set("refund_policy", schedule)
	far := f.publish(t, ga, withPolicy, starts(10*24*time.Hour))
	mid := f.publish(t, ga, withPolicy, starts(3*24*time.Hour))
	near := f.publish(t, ga, withPolicy, starts(12*time.Hour))
	organiser := f.publish(t, ga, withPolicy, starts(3*24*time.Hour))
	if len(far.RefundPolicy) != 2 || far.RefundPolicy[1].Percent != 50 {
		t.Fatalf("event refund_policy = %+v, want the schedule", far.RefundPolicy)
	}

	cases := []struct {
		e       eventJSON
		seats   int
		percent int
		refund  int64
	}{
		{far, 2, 100, 2000},
		{mid, 3, 50, 1500},
		{near, 1, 0, 0},
	}
	buyer := f.buyers(t, 1)[0]
	cancelled := map[string]int64{}
	for _, c := range cases {
		b := f.hold(t, buyer, map[string]any{"event_id": c.e.ID, "quantity": c.seats})
		if q := f.quote(t, buyer, b.ID); q.RefundCents != 0 || !q.Cancellable || q.Status != "pending" {
			t.Errorf("quote of a pending hold = %+v, want nothing to refund", q)
		}
		f.confirm(t, buyer, b.ID)
		q := f.quote(t, buyer, b.ID)
		if q.Percent != c.percent || q.RefundCents != c.refund || !q.Cancellable || q.TotalCents != int64(c.seats)*1000 ||
			len(q.RefundPolicy) != 2 {
			t.Errorf("%s: quote = %+v, want %d%% = %d", c.e.Name, q, c.percent, c.refund)
		}
		if admin := f.quote(t, f.admin, b.ID); admin.RefundCents != q.RefundCents {
			t.Errorf("the admin's quote = %d, want the owner's %d", admin.RefundCents, q.RefundCents)
		}
		r := f.env.Post(t, "/api/v1/bookings/"+b.ID+"/cancel", buyer, nil)
		var x refundedJSON
		r.Decode(t, &x)
		if r.Status != 200 || x.RefundCents == nil || *x.RefundCents != c.refund {
			t.Errorf("%s: cancel = %d %s, want refund_cents %d", c.e.Name, r.Status, r.Body, c.refund)
		}
		if got := f.refunded(t, buyer, "/api/v1/bookings/"+b.ID); got.RefundCents == nil || *got.RefundCents != c.refund {
			t.Errorf("%s: GET booking refund_cents = %v, want %d", c.e.Name, got.RefundCents, c.refund)
		}
		cancelled[b.ID] = c.refund
	}
	wantProblem(t, "quote of another's booking", f.env.Get(t, "/api/v1/bookings/"+firstKey(cancelled)+"/refund-quote", f.buyers(t, 1)[0]), 404, "not_found")

	// One booking stays: 2000 kept.
	f.buy(t, buyer, near.ID, 2)
	// The organiser cancels an event whose schedule says 50% now: 100%.
	ob := f.buy(t, buyer, organiser.ID, 4)
	if q := f.quote(t, buyer, ob.ID); q.Percent != 50 {
		t.Fatalf("quote before the organiser cancels = %d%%, want 50", q.Percent)
	}
	if r := f.env.Post(t, "/api/v1/admin/events/"+organiser.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d %s", r.Status, r.Body)
	}
	if got := f.refunded(t, buyer, "/api/v1/bookings/"+ob.ID); got.Status != "cancelled" || got.RefundCents == nil || *got.RefundCents != 4000 {
		t.Errorf("after the event's cancellation: %s, refund_cents %v; want cancelled, 4000", got.Status, got.RefundCents)
	}
	cancelled[ob.ID] = 4000

	// booking.cancelled carries each refund.
	eventually(t, 20*time.Second, "booking.cancelled delivered", func() bool { return len(rc.delivered()["booking.cancelled"]) == len(cancelled) })
	for _, h := range rc.delivered()["booking.cancelled"] {
		var b refundedJSON
		decodeData(t, h.body, &b)
		if want, ok := cancelled[b.ID]; !ok || b.RefundCents == nil || *b.RefundCents != want {
			t.Errorf("booking.cancelled %s: refund_cents %v, want %d", b.ID, b.RefundCents, want)
		}
	}

	// Analytics are net of refunds and add up.
	var s summaryJSON
	f.getJSON(t, "/api/v1/admin/analytics/summary", &s)
	// Published: far (refunded in full), mid (1500 kept), near (1000 kept
	// from the cancelled booking, 2000 from the one still confirmed).
	if len(s.Revenue) != 1 || s.Revenue[0] != m("USD", 4500) || s.BookingsConfirmed != 1 || s.TicketsSold != 2 ||
		s.BookingsCancelled != 3 {
		t.Errorf("summary = %+v, want 4500 USD net of refunds, 1 confirmed (2 tickets), 3 cancelled", s)
	}
	today := time.Now().UTC().Format("2006-01-02")
	var days struct {
		Data []dayJSON `json:"data"`
	}
	f.getJSON(t, "/api/v1/admin/analytics/daily?from="+today+"&to="+today+"&tz=UTC", &days)
	var daily int64
	for _, d := range days.Data {
		for _, r := range d.Revenue {
			daily += r.TotalCents
		}
	}
	// The organiser's cancelled event nets to zero (4000 in, 4000 back).
	if daily != 4500 {
		t.Errorf("Σ daily revenue = %d (%+v), want the summary's 4500", daily, days)
	}
	for _, c := range []struct {
		e    eventJSON
		want int64
	}{{far, 0}, {mid, 1500}, {near, 3000}, {organiser, 0}} {
		var ea eventAnalyticsJSON
		f.getJSON(t, "/api/v1/admin/analytics/events/"+c.e.ID, &ea)
		var byDay int64
		for _, d := range ea.SalesByDay {
			byDay += d.RevenueCents
		}
		if ea.RevenueCents != c.want || byDay != c.want {
			t.Errorf("%s: revenue_cents = %d, Σ sales_by_day = %d; want %d", c.e.Name, ea.RevenueCents, byDay, c.want)
		}
	}
	drift, err := postgres.NewAnalyticsStore(f.db).RollupDrift(context.Background())
	if err != nil || drift != 0 {
		t.Fatalf("RollupDrift() = %d, %v; want 0", drift, err)
	}
	if err := postgres.NewAnalyticsStore(f.db).Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	var again summaryJSON
	f.getJSON(t, "/api/v1/admin/analytics/summary", &again) // cached for up to 2s: same figures either way
	if len(again.Revenue) != 1 || again.Revenue[0] != m("USD", 4500) {
		t.Errorf("summary after a rebuild = %+v, want 4500 USD", again.Revenue)
	}
}

// TestRefundPolicyInput: the schedule is validated on create and patch,
// and null restores the default.
func TestRefundPolicyInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bad := map[string][]any{
		"refund_policy[0].percent": {map[string]any{"until_hours_before_start": 24, "percent": 120}},
		"refund_policy[1].until_hours_before_start": {
			map[string]any{"until_hours_before_start": 24, "percent": 100},
			map[string]any{"until_hours_before_start": 48, "percent": 50},
		},
		"refund_policy[0].until_hours_before_start": {map[string]any{"until_hours_before_start": -1, "percent": 50}},
	}
	for field, p := range bad {
		wantProblem(t, "create with "+field, f.env.Post(t, "/api/v1/admin/events", f.admin, eventBody(set("refund_policy", p))),
			400, "validation_failed", field)
	}
	e := f.create(t, eventBody())
	if len(e.RefundPolicy) != 1 || e.RefundPolicy[0].Hours != 0 || e.RefundPolicy[0].Percent != 100 {
		t.Errorf("default refund_policy = %+v, want 100%% until the start", e.RefundPolicy)
	}
	patch := func(body map[string]any) *apptest.Response {
		return f.env.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/v1/admin/events/" + e.ID, Token: f.admin, Body: body})
	}
	wantProblem(t, "patch with a bad tier", patch(map[string]any{"refund_policy": bad["refund_policy[0].percent"]}),
		400, "validation_failed", "refund_policy[0].percent")
	r := patch(map[string]any{"refund_policy": []any{}})
	var got eventJSON
	r.Decode(t, &got)
	if r.Status != 200 || got.RefundPolicy == nil || len(got.RefundPolicy) != 0 {
		t.Errorf("patch to no refunds = %d %s", r.Status, r.Body)
	}
	r = patch(map[string]any{"refund_policy": nil})
	r.Decode(t, &got)
	if r.Status != 200 || len(got.RefundPolicy) != 1 || got.RefundPolicy[0].Percent != 100 {
		t.Errorf("patch to null = %d %s, want the default back", r.Status, r.Body)
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

// decodeData decodes the data of a webhook body into v.
func decodeData(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(dataOf(t, body), v); err != nil {
		t.Fatalf("decode webhook data: %v", err)
	}
}
