package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/evently/evently/internal/postgres"
)

type moneyJSON struct {
	Currency   string `json:"currency"`
	TotalCents int64  `json:"total_cents"`
}

type summaryJSON struct {
	EventsPublished     int64       `json:"events_published"`
	CapacityTotal       int64       `json:"capacity_total"`
	TicketsSold         int64       `json:"tickets_sold"`
	BookingsConfirmed   int64       `json:"bookings_confirmed"`
	BookingsCancelled   int64       `json:"bookings_cancelled"`
	CancellationRate    float64     `json:"cancellation_rate"`
	CapacityUtilization float64     `json:"capacity_utilization"`
	Revenue             []moneyJSON `json:"revenue"`
	AsOf                time.Time   `json:"as_of"`
}

type popularJSON struct {
	EventID      string  `json:"event_id"`
	Name         string  `json:"name"`
	TicketsSold  int64   `json:"tickets_sold"`
	Capacity     int64   `json:"capacity"`
	Utilization  float64 `json:"utilization"`
	RevenueCents int64   `json:"revenue_cents"`
	Currency     string  `json:"currency"`
}

type dayJSON struct {
	Date              string      `json:"date"`
	BookingsConfirmed int64       `json:"bookings_confirmed"`
	TicketsSold       int64       `json:"tickets_sold"`
	BookingsCancelled int64       `json:"bookings_cancelled"`
	Revenue           []moneyJSON `json:"revenue"`
}

type daySalesJSON struct {
	Date              string `json:"date"`
	BookingsConfirmed int64  `json:"bookings_confirmed"`
	TicketsSold       int64  `json:"tickets_sold"`
	RevenueCents      int64  `json:"revenue_cents"`
}

type eventAnalyticsJSON struct {
	EventID           string         `json:"event_id"`
	Name              string         `json:"name"`
	Currency          string         `json:"currency"`
	Capacity          int64          `json:"capacity"`
	Available         int64          `json:"available"`
	Held              int64          `json:"held"`
	Booked            int64          `json:"booked"`
	Utilization       float64        `json:"utilization"`
	TicketsSold       int64          `json:"tickets_sold"`
	RevenueCents      int64          `json:"revenue_cents"`
	BookingsConfirmed int64          `json:"bookings_confirmed"`
	BookingsCancelled int64          `json:"bookings_cancelled"`
	CancellationRate  float64        `json:"cancellation_rate"`
	WaitlistWaiting   int64          `json:"waitlist_waiting"`
	SalesByDay        []daySalesJSON `json:"sales_by_day"`
	AsOf              time.Time      `json:"as_of"`
}

func m(currency string, cents int64) moneyJSON {
	return moneyJSON{Currency: currency, TotalCents: cents}
}

func rate(n, d int64) float64 { return float64(n) / float64(d) }

// getJSON GETs path as admin, wants 200 and decodes the body into v.
func (f *fixture) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	r := f.env.Get(t, path, f.admin)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, r.Status, r.Body)
	}
	r.Decode(t, v)
}

// backdate moves a booking's confirmation (and cancellation, when given)
// to past instants, as if the history had happened then.
func (f *fixture) backdate(t *testing.T, id, confirmedAt string, cancelledAt ...string) {
	t.Helper()
	f.exec(t, `UPDATE bookings SET created_at = $2::timestamptz - interval '5 minutes', confirmed_at = $2 WHERE id = $1`, id, confirmedAt)
	if len(cancelledAt) > 0 {
		f.exec(t, `UPDATE bookings SET cancelled_at = $2 WHERE id = $1`, id, cancelledAt[0])
	}
}

type analyticsHistory struct {
	hamlet, swan, jazz, gig, draft eventJSON
}

// buildAnalyticsHistory makes, through the API, the bookings below, then
// moves their confirmations and cancellations to late March 2026, around
// the night Europe/London moved to summer time (2026-03-29 01:00 UTC):
//
//	Hamlet (GBP; Stalls 2×5 at 5000, Floor 10 at 2000; capacity 20)
//	  k1  Stalls  10000  confirmed 03-28 23:30Z
//	  k2  Floor ×1          2000  confirmed 03-29 00:30Z
//	  k3  Stalls ×3        15000  confirmed 03-29 22:30Z, cancelled 03-29 23:30Z
//	  k4  Floor ×2                hold lapsed (confirm refused: hold_expired)
//	  k5  Floor ×1                hold released (cancelled unconfirmed)
//	  k11 Floor ×1                hold still live
//	Swan Lake (EUR; Floor 8 at 3000)
//	  k6  ×3                9000  confirmed 03-30 12:00Z
//	  k7  ×1                3000  confirmed 03-30 13:00Z, cancelled 03-31 03:30Z
//	  k8  ×2                6000  confirmed 03-31 23:45Z
//	Jazz Night (USD; 6 at 1500)
//	  k9  ×4                6000  confirmed 03-30 04:30Z
//	Cancelled Gig (USD; 5 at 4000), cancelled by the admin after
//	  k10 ×2                8000  confirmed 03-30 02:00Z, cancelled (with the event) 03-31 10:00Z
//	Draft (never published, no bookings)
func buildAnalyticsHistory(t *testing.T, f *fixture) analyticsHistory {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	h := analyticsHistory{
		hamlet: f.publish(t, set("name", "Hamlet"), set("currency", "GBP"), set("starts_at", rfc3339(now.Add(10*24*time.Hour))),
			set("sections", []any{
				map[string]any{"name": "Stalls", "price_cents": 5000, "rows": 2, "seats_per_row": 5},
				map[string]any{"name": "Floor", "price_cents": 2000, "capacity": 10},
			})),
		swan: f.publish(t, set("name", "Swan Lake"), set("currency", "EUR"), set("starts_at", rfc3339(now.Add(40*24*time.Hour))),
			set("sections", []any{map[string]any{"name": "Floor", "price_cents": 3000, "capacity": 8}})),
		jazz: f.publish(t, set("name", "Jazz Night"), set("currency", "USD"), set("starts_at", rfc3339(now.Add(70*24*time.Hour))),
			set("sections", []any{map[string]any{"name": "Floor", "price_cents": 1500, "capacity": 6}})),
		gig: f.publish(t, set("name", "Cancelled Gig"), set("currency", "USD"), set("starts_at", rfc3339(now.Add(20*24*time.Hour))),
			set("sections", []any{map[string]any{"name": "Floor", "price_cents": 4000, "capacity": 5}})),
		draft: f.create(t, eventBody(set("name", "Draft"))),
	}
	b := f.buyers(t, 6)
	seats := f.seatIDs(t, h.hamlet.ID)

	k1 := f.hold(t, b[0], map[string]any{"event_id": h.hamlet.ID, "seat_ids": []string{seats[0], seats[1]}})
	f.confirm(t, b[0], k1.ID)
	k2 := f.hold(t, b[1], map[string]any{"event_id": h.hamlet.ID, "quantity": 1, "section": "Floor"})
	f.confirm(t, b[1], k2.ID)
	k3 := f.hold(t, b[2], map[string]any{"event_id": h.hamlet.ID, "quantity": 3, "section": "Stalls"})
	if k3.TotalCents != 15000 {
		t.Fatalf("k3 = %+v, want three Stalls seats", k3)
	}
	f.confirm(t, b[2], k3.ID)
	f.cancel(t, b[2], k3.ID)
	k4 := f.hold(t, b[3], map[string]any{"event_id": h.hamlet.ID, "quantity": 2, "section": "Floor"})
	f.exec(t, `UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1`, k4.ID)
	wantProblem(t, "confirm a lapsed hold", f.env.Post(t, "/api/v1/bookings/"+k4.ID+"/confirm", b[3], nil), 409, "hold_expired")
	k5 := f.hold(t, b[4], map[string]any{"event_id": h.hamlet.ID, "quantity": 1, "section": "Floor"})
	f.cancel(t, b[4], k5.ID)
	f.hold(t, b[5], map[string]any{"event_id": h.hamlet.ID, "quantity": 1, "section": "Floor"}) // k11

	k6 := f.hold(t, b[0], map[string]any{"event_id": h.swan.ID, "quantity": 3})
	f.confirm(t, b[0], k6.ID)
	k7 := f.hold(t, b[5], map[string]any{"event_id": h.swan.ID, "quantity": 1})
	f.confirm(t, b[5], k7.ID)
	f.cancel(t, f.admin, k7.ID) // an admin cancels it
	k8 := f.hold(t, b[1], map[string]any{"event_id": h.swan.ID, "quantity": 2})
	f.confirm(t, b[1], k8.ID)

	k9 := f.hold(t, b[2], map[string]any{"event_id": h.jazz.ID, "quantity": 4})
	f.confirm(t, b[2], k9.ID)

	k10 := f.hold(t, b[3], map[string]any{"event_id": h.gig.ID, "quantity": 2})
	f.confirm(t, b[3], k10.ID)
	if r := f.env.Post(t, "/api/v1/admin/events/"+h.gig.ID+"/cancel", f.admin, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel event = %d %s", r.Status, r.Body)
	}

	f.backdate(t, k1.ID, "2026-03-28T23:30:00Z")
	f.backdate(t, k2.ID, "2026-03-29T00:30:00Z")
	f.backdate(t, k3.ID, "2026-03-29T22:30:00Z", "2026-03-29T23:30:00Z")
	f.backdate(t, k6.ID, "2026-03-30T12:00:00Z")
	f.backdate(t, k7.ID, "2026-03-30T13:00:00Z", "2026-03-31T03:30:00Z")
	f.backdate(t, k8.ID, "2026-03-31T23:45:00Z")
	f.backdate(t, k9.ID, "2026-03-30T04:30:00Z")
	f.backdate(t, k10.ID, "2026-03-30T02:00:00Z", "2026-03-31T10:00:00Z")
	return h
}

// TestAnalytics checks every figure of every analytics endpoint against
// the hand-computed values of a known history.
func TestAnalytics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := buildAnalyticsHistory(t, f)
	start := time.Now()

	drift, err := postgres.NewAnalyticsStore(f.db).RollupDrift(context.Background())
	if err != nil || drift != 0 {
		t.Fatalf("RollupDrift() = %d, %v; want 0", drift, err)
	}

	t.Run("summary", func(t *testing.T) {
		var s summaryJSON
		f.getJSON(t, "/api/v1/admin/analytics/summary", &s)
		// Published: Hamlet, Swan Lake, Jazz Night (the gig is cancelled, the draft a draft).
		// Confirmed now: k1, k2, k6, k8, k9 (2+1+3+2+4 seats); cancelled after confirmation: k3, k7.
		want := summaryJSON{
			EventsPublished: 3, CapacityTotal: 34, TicketsSold: 12, BookingsConfirmed: 5, BookingsCancelled: 2,
			CancellationRate: rate(2, 7), CapacityUtilization: rate(12, 34),
			Revenue: []moneyJSON{m("EUR", 15000), m("GBP", 12000), m("USD", 6000)},
		}
		checkAsOf(t, s.AsOf, start)
		s.AsOf = time.Time{}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("summary = %+v\nwant    %+v", s, want)
		}

		// Swan Lake alone: [its start, Jazz Night's start).
		q := url.Values{"from": {rfc3339(h.swan.StartsAt)}, "to": {rfc3339(h.jazz.StartsAt)}}
		f.getJSON(t, "/api/v1/admin/analytics/summary?"+q.Encode(), &s)
		want = summaryJSON{
			EventsPublished: 1, CapacityTotal: 8, TicketsSold: 5, BookingsConfirmed: 2, BookingsCancelled: 1,
			CancellationRate: rate(1, 3), CapacityUtilization: rate(5, 8), Revenue: []moneyJSON{m("EUR", 15000)},
		}
		s.AsOf = time.Time{}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("summary %v = %+v\nwant    %+v", q, s, want)
		}
		// Dates work too: Hamlet and the cancelled gig start in [now+5d, now+30d).
		q = url.Values{"from": {start.Add(5 * 24 * time.Hour).UTC().Format(time.DateOnly)},
			"to": {start.Add(30 * 24 * time.Hour).UTC().Format(time.DateOnly)}}
		f.getJSON(t, "/api/v1/admin/analytics/summary?"+q.Encode(), &s)
		if s.EventsPublished != 1 || s.CapacityTotal != 20 || s.TicketsSold != 3 || s.BookingsCancelled != 1 ||
			!reflect.DeepEqual(s.Revenue, []moneyJSON{m("GBP", 12000)}) {
			t.Errorf("summary %v = %+v, want Hamlet's figures", q, s)
		}

		// Empty windows are zeros.
		for _, q := range []url.Values{
			{"from": {"2030-01-01"}},
			{"from": {rfc3339(h.swan.StartsAt)}, "to": {rfc3339(h.swan.StartsAt)}},
		} {
			var s summaryJSON
			f.getJSON(t, "/api/v1/admin/analytics/summary?"+q.Encode(), &s)
			s.AsOf = time.Time{}
			if !reflect.DeepEqual(s, summaryJSON{Revenue: []moneyJSON{}}) {
				t.Errorf("summary %v = %+v, want zeros", q, s)
			}
		}
	})

	hamlet := popularJSON{EventID: h.hamlet.ID, Name: "Hamlet", TicketsSold: 3, Capacity: 20, Utilization: rate(3, 20), RevenueCents: 12000, Currency: "GBP"}
	swan := popularJSON{EventID: h.swan.ID, Name: "Swan Lake", TicketsSold: 5, Capacity: 8, Utilization: rate(5, 8), RevenueCents: 15000, Currency: "EUR"}
	jazz := popularJSON{EventID: h.jazz.ID, Name: "Jazz Night", TicketsSold: 4, Capacity: 6, Utilization: rate(4, 6), RevenueCents: 6000, Currency: "USD"}
	t.Run("popular", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []popularJSON
		}{
			{"", []popularJSON{swan, jazz, hamlet}},
			{"by=tickets&limit=2", []popularJSON{swan, jazz}},
			{"by=revenue", []popularJSON{swan, hamlet, jazz}},
			{"by=utilization", []popularJSON{jazz, swan, hamlet}},
			{"by=revenue&currency=GBP", []popularJSON{hamlet}},
			{"limit=1000", []popularJSON{swan, jazz, hamlet}}, // clamped
			{"from=" + url.QueryEscape(rfc3339(h.swan.StartsAt)), []popularJSON{swan, jazz}},
			{"from=2030-01-01", []popularJSON{}},
		} {
			var got struct {
				Data []popularJSON `json:"data"`
				AsOf time.Time     `json:"as_of"`
			}
			f.getJSON(t, "/api/v1/admin/analytics/events/popular?"+tc.query, &got)
			checkAsOf(t, got.AsOf, start)
			if !reflect.DeepEqual(got.Data, tc.want) {
				t.Errorf("popular?%s = %+v\nwant %+v", tc.query, got.Data, tc.want)
			}
		}
	})

	t.Run("daily", func(t *testing.T) {
		zero := func(date string) dayJSON { return dayJSON{Date: date, Revenue: []moneyJSON{}} }
		for _, tc := range []struct {
			query string
			tz    string
			want  []dayJSON
		}{
			// UTC days: k3's confirmation and cancellation both fall on the 29th.
			{"from=2026-03-27&to=2026-04-01", "UTC", []dayJSON{
				zero("2026-03-27"),
				{"2026-03-28", 1, 2, 0, []moneyJSON{m("GBP", 10000)}},
				{"2026-03-29", 2, 1, 1, []moneyJSON{m("GBP", 2000)}},
				{"2026-03-30", 4, 10, 0, []moneyJSON{m("EUR", 12000), m("USD", 14000)}},
				{"2026-03-31", 1, -1, 2, []moneyJSON{m("EUR", 3000), m("USD", -8000)}},
				zero("2026-04-01"),
			}},
			// London: the 29th lasts 23 hours; k3's cancellation (23:30Z) is on the 30th, k8 (23:45Z) on April 1st.
			{"from=2026-03-28&to=2026-04-01&tz=Europe/London", "Europe/London", []dayJSON{
				{"2026-03-28", 1, 2, 0, []moneyJSON{m("GBP", 10000)}},
				{"2026-03-29", 2, 4, 0, []moneyJSON{m("GBP", 17000)}},
				{"2026-03-30", 4, 7, 1, []moneyJSON{m("EUR", 12000), m("GBP", -15000), m("USD", 14000)}},
				{"2026-03-31", 0, -3, 2, []moneyJSON{m("EUR", -3000), m("USD", -8000)}},
				{"2026-04-01", 1, 2, 0, []moneyJSON{m("EUR", 6000)}},
			}},
			// New York (UTC-4): k2 and k10 move back a day, k7's cancellation too.
			{"from=2026-03-28&to=2026-03-31&tz=America/New_York", "America/New_York", []dayJSON{
				{"2026-03-28", 2, 3, 0, []moneyJSON{m("GBP", 12000)}},
				{"2026-03-29", 2, 2, 1, []moneyJSON{m("GBP", 0), m("USD", 8000)}},
				{"2026-03-30", 3, 7, 1, []moneyJSON{m("EUR", 9000), m("USD", 6000)}},
				{"2026-03-31", 1, 0, 1, []moneyJSON{m("EUR", 6000), m("USD", -8000)}},
			}},
			// Kolkata (UTC+5:30): k1 moves forward to the 29th, k3 to the 30th.
			{"from=2026-03-28&to=2026-04-01&tz=Asia/Kolkata", "Asia/Kolkata", []dayJSON{
				zero("2026-03-28"),
				{"2026-03-29", 2, 3, 0, []moneyJSON{m("GBP", 12000)}},
				{"2026-03-30", 5, 10, 1, []moneyJSON{m("EUR", 12000), m("GBP", 0), m("USD", 14000)}},
				{"2026-03-31", 0, -3, 2, []moneyJSON{m("EUR", -3000), m("USD", -8000)}},
				{"2026-04-01", 1, 2, 0, []moneyJSON{m("EUR", 6000)}},
			}},
			{"from=2025-01-01&to=2025-01-01", "UTC", []dayJSON{zero("2025-01-01")}},
		} {
			var got struct {
				TZ   string    `json:"tz"`
				Data []dayJSON `json:"data"`
				AsOf time.Time `json:"as_of"`
			}
			f.getJSON(t, "/api/v1/admin/analytics/daily?"+tc.query, &got)
			checkAsOf(t, got.AsOf, start)
			if got.TZ != tc.tz || !reflect.DeepEqual(got.Data, tc.want) {
				t.Errorf("daily?%s = %s %+v\nwant %s %+v", tc.query, got.TZ, got.Data, tc.tz, tc.want)
			}
		}

		// Over a period holding all of it, every zone's rows add up to the
		// summary (the cancelled gig's confirmation and cancellation net
		// out).
		for _, tz := range []string{"UTC", "Europe/London", "America/Los_Angeles", "Pacific/Kiritimati", "Asia/Kathmandu"} {
			var got struct {
				Data []dayJSON `json:"data"`
			}
			f.getJSON(t, "/api/v1/admin/analytics/daily?from=2026-03-01&to=2026-04-30&tz="+url.QueryEscape(tz), &got)
			var confirmed, cancelled, tickets int64
			revenue := map[string]int64{}
			for _, d := range got.Data {
				confirmed += d.BookingsConfirmed
				cancelled += d.BookingsCancelled
				tickets += d.TicketsSold
				for _, r := range d.Revenue {
					revenue[r.Currency] += r.TotalCents
				}
			}
			if len(got.Data) != 61 || confirmed != 8 || cancelled != 3 || confirmed-cancelled != 5 || tickets != 12 ||
				!reflect.DeepEqual(revenue, map[string]int64{"EUR": 15000, "GBP": 12000, "USD": 6000}) {
				t.Errorf("%s: %d rows adding up to %d confirmed, %d cancelled, %d tickets, %v; want 61 rows, 8, 3, 12 and the summary's revenue",
					tz, len(got.Data), confirmed, cancelled, tickets, revenue)
			}
		}

		// 366 days apart is the most.
		var year struct {
			Data []dayJSON `json:"data"`
		}
		f.getJSON(t, "/api/v1/admin/analytics/daily?from=2026-01-01&to=2027-01-02", &year)
		if len(year.Data) != 367 || year.Data[0].Date != "2026-01-01" || year.Data[366].Date != "2027-01-02" {
			t.Errorf("366-day report: %d rows, from %s", len(year.Data), year.Data[0].Date)
		}
	})

	t.Run("event", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			id   string
			want eventAnalyticsJSON
		}{
			// k1 and k2 booked; k11's seat held; k3's, k4's and k5's seats free again.
			{"Hamlet", h.hamlet.ID, eventAnalyticsJSON{
				EventID: h.hamlet.ID, Name: "Hamlet", Currency: "GBP", Capacity: 20, Available: 16, Held: 1, Booked: 3,
				Utilization: rate(3, 20), TicketsSold: 3, RevenueCents: 12000, BookingsConfirmed: 2, BookingsCancelled: 1,
				CancellationRate: rate(1, 3), SalesByDay: []daySalesJSON{
					{"2026-03-28", 1, 2, 10000},
					{"2026-03-29", 1, 1, 2000},
				}}},
			{"Swan Lake", h.swan.ID, eventAnalyticsJSON{
				EventID: h.swan.ID, Name: "Swan Lake", Currency: "EUR", Capacity: 8, Available: 3, Booked: 5,
				Utilization: rate(5, 8), TicketsSold: 5, RevenueCents: 15000, BookingsConfirmed: 2, BookingsCancelled: 1,
				CancellationRate: rate(1, 3), SalesByDay: []daySalesJSON{
					{"2026-03-30", 1, 3, 9000},
					{"2026-03-31", 1, 2, 6000},
				}}},
			{"Jazz Night", h.jazz.ID, eventAnalyticsJSON{
				EventID: h.jazz.ID, Name: "Jazz Night", Currency: "USD", Capacity: 6, Available: 2, Booked: 4,
				Utilization: rate(4, 6), TicketsSold: 4, RevenueCents: 6000, BookingsConfirmed: 1,
				SalesByDay: []daySalesJSON{{"2026-03-30", 1, 4, 6000}}}},
			// A cancelled event: its one sale was cancelled with it.
			{"Cancelled Gig", h.gig.ID, eventAnalyticsJSON{
				EventID: h.gig.ID, Name: "Cancelled Gig", Currency: "USD", Capacity: 5, Available: 5,
				BookingsCancelled: 1, CancellationRate: 1, SalesByDay: []daySalesJSON{}}},
			{"Draft", h.draft.ID, eventAnalyticsJSON{
				EventID: h.draft.ID, Name: "Draft", Currency: "USD", Capacity: 700, Available: 700, SalesByDay: []daySalesJSON{}}},
		} {
			var got eventAnalyticsJSON
			f.getJSON(t, "/api/v1/admin/analytics/events/"+tc.id, &got)
			checkAsOf(t, got.AsOf, start)
			got.AsOf = time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %+v\nwant %+v", tc.name, got, tc.want)
			}
		}
		wantProblem(t, "unknown event", f.env.Get(t, "/api/v1/admin/analytics/events/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", f.admin), 404, "not_found")
		wantProblem(t, "non-UUID event", f.env.Get(t, "/api/v1/admin/analytics/events/hamlet", f.admin), 404, "not_found")
	})
}

// checkAsOf wants as_of at most a few seconds before the test asked.
func checkAsOf(t *testing.T, asOf, start time.Time) {
	t.Helper()
	if asOf.Before(start.Add(-5*time.Second)) || asOf.After(time.Now().Add(time.Second)) || asOf.Location() != time.UTC {
		t.Errorf("as_of = %s, want a UTC time around %s", asOf, start.UTC())
	}
}

// TestAnalyticsEmpty: a platform without sales answers zeros everywhere.
func TestAnalyticsEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var s summaryJSON
	f.getJSON(t, "/api/v1/admin/analytics/summary", &s)
	s.AsOf = time.Time{}
	if !reflect.DeepEqual(s, summaryJSON{Revenue: []moneyJSON{}}) {
		t.Errorf("summary = %+v, want zeros", s)
	}
	var p struct {
		Data []popularJSON `json:"data"`
	}
	f.getJSON(t, "/api/v1/admin/analytics/events/popular", &p)
	if p.Data == nil || len(p.Data) != 0 {
		t.Errorf("popular = %+v, want an empty list", p.Data)
	}
	var d struct {
		Data []dayJSON `json:"data"`
	}
	f.getJSON(t, "/api/v1/admin/analytics/daily?from=2026-02-27&to=2026-03-01&tz=Europe/Paris", &d)
	want := []dayJSON{{Date: "2026-02-27", Revenue: []moneyJSON{}}, {Date: "2026-02-28", Revenue: []moneyJSON{}},
		{Date: "2026-03-01", Revenue: []moneyJSON{}}}
	if !reflect.DeepEqual(d.Data, want) {
		t.Errorf("daily = %+v, want three days of zeros", d.Data)
	}
	e := f.publish(t)
	var ev eventAnalyticsJSON
	f.getJSON(t, "/api/v1/admin/analytics/events/"+e.ID, &ev)
	if ev.Capacity != 700 || ev.Available != 700 || ev.TicketsSold != 0 || ev.Utilization != 0 || ev.CancellationRate != 0 ||
		ev.SalesByDay == nil || len(ev.SalesByDay) != 0 || ev.WaitlistWaiting != 0 {
		t.Errorf("event = %+v, want an unsold event", ev)
	}
}

func TestAnalyticsBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		path   string
		fields []string
	}{
		{"/api/v1/admin/analytics/summary?from=yesterday", []string{"from"}},
		{"/api/v1/admin/analytics/summary?from=2026-05-02&to=2026-05-01", []string{"to"}},
		{"/api/v1/admin/analytics/summary?to=2026-13-01", []string{"to"}},
		{"/api/v1/admin/analytics/events/popular?by=fame", []string{"by"}},
		{"/api/v1/admin/analytics/events/popular?limit=0", []string{"limit"}},
		{"/api/v1/admin/analytics/events/popular?limit=ten", []string{"limit"}},
		{"/api/v1/admin/analytics/events/popular?currency=usd", []string{"currency"}},
		{"/api/v1/admin/analytics/events/popular?from=2026-05-02&to=2026-05-01", []string{"to"}},
		{"/api/v1/admin/analytics/daily", []string{"from", "to"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-01", []string{"to"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-02&to=2026-05-01", []string{"to"}},
		{"/api/v1/admin/analytics/daily?from=2026-01-01&to=2027-01-03", []string{"to"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-01T00:00:00Z&to=2026-05-02", []string{"from"}},
		{"/api/v1/admin/analytics/daily?from=2026-02-29&to=2026-03-02", []string{"from"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-01&to=2026-05-02&tz=Europe/Atlantis", []string{"tz"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-01&to=2026-05-02&tz=Local", []string{"tz"}},
		{"/api/v1/admin/analytics/daily?from=2026-05-01&to=2026-05-02&tz=%2B02:00", []string{"tz"}},
	} {
		wantProblem(t, tc.path, f.env.Get(t, tc.path, f.admin), 400, "validation_failed", tc.fields...)
	}
}

func TestAnalyticsAdminOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{
		"/api/v1/admin/analytics/summary",
		"/api/v1/admin/analytics/events/popular",
		"/api/v1/admin/analytics/daily?from=2026-05-01&to=2026-05-02",
		"/api/v1/admin/analytics/events/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
	} {
		wantProblem(t, "anonymous "+path, f.env.Get(t, path, ""), 401, "unauthorized")
		wantProblem(t, "user "+path, f.env.Get(t, path, f.user), 403, "forbidden")
	}
}
