package analytics

import (
	"fmt"
	"time"
	// Zone names must resolve the same on every machine, whatever zoneinfo
	// files it has (the container image has none of its own).
	_ "time/tzdata"

	"github.com/evently/evently/internal/apperr"
)

// MaxDailySpan is how many days apart from and to of a daily report may
// be (so a report has at most MaxDailySpan+1 rows).
const MaxDailySpan = 366

// validate refuses a window that ends before it starts. One that ends
// where it starts is empty, not wrong.
func (w Window) validate() error {
	if w.From != nil && w.To != nil && w.To.Before(*w.From) {
		return apperr.Invalid(apperr.FieldError{Field: "to", Message: "must not be before from"})
	}
	return nil
}

// normalize fills in defaults and checks the query.
func (q PopularQuery) normalize() (PopularQuery, error) {
	var v apperr.Validator
	switch q.By {
	case "":
		q.By = ByTickets
	case ByTickets, ByRevenue, ByUtilization:
	default:
		v.Add("by", "must be tickets, revenue or utilization")
	}
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultPopularLimit
	case q.Limit > MaxPopularLimit:
		q.Limit = MaxPopularLimit
	}
	if q.Currency != "" && !isCurrency(q.Currency) {
		v.Add("currency", "must be an upper-case ISO 4217 code such as USD")
	}
	if err := v.Err(); err != nil {
		return q, err
	}
	return q, q.Window.validate()
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// DailyQuery asks for the days From through To (dates; both included) of
// a time zone.
type DailyQuery struct {
	From     time.Time // midnight UTC of the first date
	To       time.Time // midnight UTC of the last date
	Location *time.Location
}

// ParseDailyQuery reads a daily report's parameters: from and to are
// required YYYY-MM-DD dates at most MaxDailySpan days apart, to not before
// from; tz is an IANA zone name (UTC when empty).
func ParseDailyQuery(from, to, tz string) (DailyQuery, error) {
	var (
		q DailyQuery
		v apperr.Validator
	)
	parse := func(field, s string) (time.Time, bool) {
		if s == "" {
			v.Add(field, "is required (a date such as 2026-05-01)")
			return time.Time{}, false
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			v.Add(field, "must be a date such as 2026-05-01")
			return time.Time{}, false
		}
		return d, true
	}
	fromOK, toOK := false, false
	q.From, fromOK = parse("from", from)
	q.To, toOK = parse("to", to)
	if fromOK && toOK {
		switch days := daysBetween(q.From, q.To); {
		case days < 0:
			v.Add("to", "must not be before from")
		case days > MaxDailySpan:
			v.Add("to", fmt.Sprintf("must be at most %d days after from", MaxDailySpan))
		}
	}
	switch tz {
	case "", "UTC":
		q.Location = time.UTC
	case "Local":
		v.Add("tz", "must be an IANA time zone name such as Europe/London")
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			v.Add("tz", "must be an IANA time zone name such as Europe/London")
		}
		q.Location = loc
	}
	return q, v.Err()
}

// validate checks a query built without ParseDailyQuery.
func (q DailyQuery) validate() error {
	var v apperr.Validator
	days := daysBetween(q.From, q.To)
	v.Check(days >= 0, "to", "must not be before from")
	v.Check(days <= MaxDailySpan, "to", fmt.Sprintf("must be at most %d days after from", MaxDailySpan))
	v.Check(q.Location != nil, "tz", "must be an IANA time zone name such as Europe/London")
	return v.Err()
}

// Days is the number of days the query covers.
func (q DailyQuery) Days() int { return daysBetween(q.From, q.To) + 1 }

// Bounds returns the instants at which each day of the query starts in its
// zone, followed by the start of the day after the last: day i is
// [Bounds[i], Bounds[i+1]).
func (q DailyQuery) Bounds() []time.Time {
	n := q.Days()
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = DayStart(q.From.AddDate(0, 0, i), q.Location)
	}
	return out
}

// daysBetween counts the days from date a to date b (both midnight UTC).
func daysBetween(a, b time.Time) int {
	return int(b.Sub(a).Round(time.Hour) / (24 * time.Hour))
}

// DayStart returns the first instant whose date in loc is date (or a later
// one: a date a zone skipped entirely starts, and ends, where the next
// one starts). A day does not always start at 00:00: where clocks spring
// forward at midnight it starts at 01:00, and where they fall back to a
// second midnight it starts at the first.
func DayStart(date time.Time, loc *time.Location) time.Time {
	y, m, d := date.Date()
	want := y*10000 + int(m)*100 + d
	midnightUTC := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// The first instant on or after the date can only be a midnight at one
	// of the offsets in force around it, or a zone transition. Look within
	// a window wider than any offset.
	lo, hi := midnightUTC.Add(-30*time.Hour), midnightUTC.Add(30*time.Hour)
	var best time.Time
	consider := func(c time.Time) {
		if c.Before(lo) || !c.Before(hi) || localDate(c, loc) < want {
			return
		}
		if best.IsZero() || c.Before(best) {
			best = c
		}
	}
	for t := lo; t.Before(hi); {
		_, offset := t.In(loc).Zone()
		consider(midnightUTC.Add(-time.Duration(offset) * time.Second))
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.After(t) {
			break
		}
		consider(end)
		t = end
	}
	return best
}

func localDate(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}
