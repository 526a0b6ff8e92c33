package analytics

import (
	"slices"
	"testing"
	"time"

	"github.com/evently/evently/internal/apperr"
)

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q) = %v", name, err)
	}
	return loc
}

func TestParseDailyQuery(t *testing.T) {
	t.Parallel()
	q, err := ParseDailyQuery("2026-03-01", "2026-03-31", "")
	if err != nil || q.Location != time.UTC || q.Days() != 31 || !q.From.Equal(date("2026-03-01")) {
		t.Fatalf("ParseDailyQuery() = %+v, %v", q, err)
	}
	q, err = ParseDailyQuery("2026-01-01", "2027-01-02", "Europe/London") // 366 days apart
	if err != nil || q.Days() != 367 || q.Location.String() != "Europe/London" {
		t.Fatalf("ParseDailyQuery(366 days) = %+v, %v", q, err)
	}
	if q, err := ParseDailyQuery("2026-05-01", "2026-05-01", "UTC"); err != nil || q.Days() != 1 {
		t.Fatalf("ParseDailyQuery(one day) = %+v, %v", q, err)
	}

	for _, tc := range []struct {
		from, to, tz string
		fields       []string
	}{
		{"", "", "", []string{"from", "to"}},
		{"2026-03-01", "", "", []string{"to"}},
		{"2026-3-1", "2026-03-02", "", []string{"from"}},
		{"2026-02-30", "2026-03-02", "", []string{"from"}},
		{"2026-03-01T00:00:00Z", "2026-03-02", "", []string{"from"}},
		{"2026-03-02", "2026-03-01", "", []string{"to"}},
		{"2026-01-01", "2027-01-03", "", []string{"to"}}, // 367 days apart
		{"2026-03-01", "2026-03-02", "Mars/Olympus_Mons", []string{"tz"}},
		{"2026-03-01", "2026-03-02", "Local", []string{"tz"}},
		{"2026-03-01", "2026-03-02", "../../etc/passwd", []string{"tz"}},
		{"x", "y", "z", []string{"from", "to", "tz"}},
	} {
		_, err := ParseDailyQuery(tc.from, tc.to, tc.tz)
		var fields []string
		var ae *apperr.Error
		if apperr.Is(err, apperr.ValidationFailed) {
			ae = err.(*apperr.Error)
			for _, f := range ae.Fields {
				fields = append(fields, f.Field)
			}
		}
		if !slices.Equal(fields, tc.fields) {
			t.Errorf("ParseDailyQuery(%q, %q, %q) = %v (fields %v), want validation_failed on %v",
				tc.from, tc.to, tc.tz, err, fields, tc.fields)
		}
	}
}

// TestDayStart checks the start of days in zones whose clocks change at
// or around midnight, skip a date, or sit a quarter hour off UTC.
func TestDayStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		zone, date string
		want       string // RFC 3339, UTC
	}{
		{"UTC", "2026-03-29", "2026-03-29T00:00:00Z"},
		{"Europe/London", "2026-03-29", "2026-03-29T00:00:00Z"}, // the spring-forward day (23 hours)
		{"Europe/London", "2026-03-30", "2026-03-29T23:00:00Z"},
		{"Europe/London", "2026-10-25", "2026-10-24T23:00:00Z"}, // the fall-back day (25 hours)
		{"Europe/London", "2026-10-26", "2026-10-26T00:00:00Z"},
		{"America/New_York", "2026-07-04", "2026-07-04T04:00:00Z"},
		{"Asia/Kolkata", "2026-01-01", "2025-12-31T18:30:00Z"},
		{"Asia/Kathmandu", "2026-01-01", "2025-12-31T18:15:00Z"},
		{"Pacific/Chatham", "2026-01-01", "2025-12-31T10:15:00Z"},
		{"Australia/Lord_Howe", "2026-01-01", "2025-12-31T13:00:00Z"},
		// Chile springs forward at midnight: 2022-09-11 began at 01:00.
		{"America/Santiago", "2022-09-11", "2022-09-11T04:00:00Z"},
		// ... and falls back at 24:00 to 23:00: 2022-04-03 began at the one midnight (-04).
		{"America/Santiago", "2022-04-03", "2022-04-03T04:00:00Z"},
		// Cuba springs forward at 00:00 to 01:00 ...
		{"America/Havana", "2024-03-10", "2024-03-10T05:00:00Z"},
		// ... and falls back at 01:00 to 00:00: 2024-11-03 began at the first of two midnights (-04).
		{"America/Havana", "2024-11-03", "2024-11-03T04:00:00Z"},
		// Samoa skipped 2011-12-30: it starts, and ends, where 2011-12-31 starts.
		{"Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00Z"},
		{"Pacific/Apia", "2011-12-31", "2011-12-30T10:00:00Z"},
		{"Pacific/Apia", "2011-12-29", "2011-12-29T10:00:00Z"},
	} {
		loc := mustZone(t, tc.zone)
		got := DayStart(date(tc.date), loc)
		if want, _ := time.Parse(time.RFC3339, tc.want); !got.Equal(want) {
			t.Errorf("DayStart(%s, %s) = %s, want %s", tc.date, tc.zone, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
}

// TestDayStartIsFirstInstant checks, across many zones and two years of
// dates, that a day starts at the first instant of its date and that the
// instant before belongs to an earlier date.
func TestDayStartIsFirstInstant(t *testing.T) {
	t.Parallel()
	zones := []string{"UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Sao_Paulo",
		"America/Santiago", "America/Havana", "America/St_Johns", "Asia/Tehran", "Asia/Kolkata", "Asia/Kathmandu",
		"Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Apia",
		"Africa/Casablanca", "Asia/Beirut", "America/Asuncion", "Pacific/Pago_Pago"}
	for _, name := range zones {
		loc := mustZone(t, name)
		for d := date("2025-01-01"); d.Before(date("2027-01-01")); d = d.AddDate(0, 0, 1) {
			start := DayStart(d, loc)
			if got := start.In(loc).Format(time.DateOnly); got != d.Format(time.DateOnly) {
				t.Fatalf("%s: DayStart(%s) = %s, on %s", name, d.Format(time.DateOnly), start.In(loc), got)
			}
			if before := start.Add(-time.Nanosecond).In(loc); before.Format(time.DateOnly) >= d.Format(time.DateOnly) {
				t.Fatalf("%s: the instant before DayStart(%s) = %s is already that day", name, d.Format(time.DateOnly), before)
			}
			if start.Unix()%(15*60) != 0 {
				t.Errorf("%s: DayStart(%s) = %s is not on a quarter hour of UTC", name, d.Format(time.DateOnly), start.UTC())
			}
		}
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	q, err := ParseDailyQuery("2026-03-28", "2026-03-30", "Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range q.Bounds() {
		got = append(got, b.UTC().Format(time.RFC3339))
	}
	want := []string{"2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z", "2026-03-30T23:00:00Z"}
	if !slices.Equal(got, want) {
		t.Errorf("Bounds() = %v, want %v", got, want)
	}
}

func TestWindowAndPopularQuery(t *testing.T) {
	t.Parallel()
	a, b := date("2026-01-01"), date("2026-02-01")
	if err := (Window{From: &b, To: &a}).validate(); !apperr.Is(err, apperr.ValidationFailed) {
		t.Errorf("window ending before it starts: %v, want validation_failed", err)
	}
	if err := (Window{From: &a, To: &a}).validate(); err != nil {
		t.Errorf("empty window: %v, want nil", err)
	}
	q, err := PopularQuery{}.normalize()
	if err != nil || q.By != ByTickets || q.Limit != DefaultPopularLimit {
		t.Errorf("PopularQuery{}.normalize() = %+v, %v", q, err)
	}
	if q, _ := (PopularQuery{Limit: 1000}).normalize(); q.Limit != MaxPopularLimit {
		t.Errorf("limit 1000 normalized to %d, want %d", q.Limit, MaxPopularLimit)
	}
	for _, bad := range []PopularQuery{{By: "fame"}, {Currency: "usd"}, {Currency: "EURO"}, {Window: Window{From: &b, To: &a}}} {
		if _, err := bad.normalize(); !apperr.Is(err, apperr.ValidationFailed) {
			t.Errorf("%+v.normalize() = %v, want validation_failed", bad, err)
		}
	}
}

func TestRates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		confirmed, cancelled int64
		want                 float64
	}{{0, 0, 0}, {3, 1, 0.25}, {0, 2, 1}, {2, 0, 0}, {2, 1, 1.0 / 3.0}} {
		if got := CancellationRate(tc.confirmed, tc.cancelled); got != tc.want {
			t.Errorf("CancellationRate(%d, %d) = %v, want %v", tc.confirmed, tc.cancelled, got, tc.want)
		}
	}
	for _, tc := range []struct {
		sold, capacity int64
		want           float64
	}{{0, 0, 0}, {5, 0, 0}, {1, 4, 0.25}, {4, 4, 1}, {9, 4, 1}} {
		if got := (EventSales{TicketsSold: tc.sold, Capacity: tc.capacity}).Utilization(); got != tc.want {
			t.Errorf("Utilization(%d/%d) = %v, want %v", tc.sold, tc.capacity, got, tc.want)
		}
	}
}
