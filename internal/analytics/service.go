package analytics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Store computes sales figures from the booking records. Every method is
// exact at the moment it runs.
type Store interface {
	// Totals counts the published events starting in w, their capacity,
	// and their sales per currency (sorted by currency).
	Totals(ctx context.Context, w Window) (Totals, error)
	// Popular returns the first q.Limit published events (of q.Window and
	// q.Currency) ranked by q.By, then by tickets sold, then by id.
	Popular(ctx context.Context, q PopularQuery) ([]EventSales, error)
	// Activity returns the confirmations and cancellations of confirmed
	// bookings of every event per day, where day i is [bounds[i],
	// bounds[i+1]), and per currency; days and currencies without any are
	// left out.
	Activity(ctx context.Context, bounds []time.Time) ([]Activity, error)
	// Event returns one event's sales, seat counts at now and sales by
	// day, or NotFound.
	Event(ctx context.Context, id uuid.UUID, now time.Time) (EventFacts, error)
}

// WaitlistCounter counts the entries of an event's waitlist still waiting
// for an offer.
type WaitlistCounter interface {
	Waiting(ctx context.Context, eventID uuid.UUID) (int64, error)
}

// Options are a Service's optional settings.
type Options struct {
	// Waitlist counts waiting entries; without one, waitlist_waiting is 0.
	Waitlist WaitlistCounter
	// CacheTTL is how long a report is served from memory (0: never).
	// Figures are then at most this old; keep it to a few seconds.
	CacheTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service answers the analytics reports.
type Service struct {
	store    Store
	waitlist WaitlistCounter
	now      func() time.Time
	cache    *cache
}

// NewService returns the reports over store.
func NewService(store Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: store, waitlist: o.Waitlist, now: o.Now, cache: newCache(o.CacheTTL, o.Now)}
}

// Summary reports the sales of the published events starting in w.
func (s *Service) Summary(ctx context.Context, w Window) (Summary, error) {
	if err := w.validate(); err != nil {
		return Summary{}, err
	}
	return get(ctx, s.cache, "summary|"+windowKey(w), func() (Summary, error) {
		asOf := s.now().UTC()
		t, err := s.store.Totals(ctx, w)
		if err != nil {
			return Summary{}, err
		}
		sum := Summary{EventsPublished: t.Events, CapacityTotal: t.Capacity, Revenue: []Money{}, AsOf: asOf}
		for _, c := range t.ByCurrency {
			sum.BookingsConfirmed += c.BookingsConfirmed
			sum.TicketsSold += c.TicketsSold
			sum.BookingsCancelled += c.BookingsCancelled
			if c.BookingsConfirmed > 0 {
				sum.Revenue = append(sum.Revenue, Money{Currency: c.Currency, Cents: c.RevenueCents})
			}
		}
		sortMoney(sum.Revenue)
		sum.CancellationRate = CancellationRate(sum.BookingsConfirmed, sum.BookingsCancelled)
		sum.CapacityUtilization = ratio(sum.TicketsSold, sum.CapacityTotal)
		return sum, nil
	})
}

// Popular ranks the published events.
func (s *Service) Popular(ctx context.Context, q PopularQuery) (Popular, error) {
	q, err := q.normalize()
	if err != nil {
		return Popular{}, err
	}
	key := fmt.Sprintf("popular|%s|%d|%s|%s", q.By, q.Limit, q.Currency, windowKey(q.Window))
	return get(ctx, s.cache, key, func() (Popular, error) {
		asOf := s.now().UTC()
		events, err := s.store.Popular(ctx, q)
		if err != nil {
			return Popular{}, err
		}
		if events == nil {
			events = []EventSales{}
		}
		return Popular{Events: events, AsOf: asOf}, nil
	})
}

// Daily reports each day of q, days without activity included.
func (s *Service) Daily(ctx context.Context, q DailyQuery) (Daily, error) {
	if err := q.validate(); err != nil {
		return Daily{}, err
	}
	key := fmt.Sprintf("daily|%s|%s|%s", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly), q.Location)
	return get(ctx, s.cache, key, func() (Daily, error) {
		asOf := s.now().UTC()
		bounds := q.Bounds()
		acts, err := s.store.Activity(ctx, bounds)
		if err != nil {
			return Daily{}, err
		}
		days := make([]Day, len(bounds)-1)
		for i := range days {
			days[i] = Day{Date: q.From.AddDate(0, 0, i), Revenue: []Money{}}
		}
		for _, a := range acts {
			if a.Day < 0 || a.Day >= len(days) {
				return Daily{}, fmt.Errorf("daily activity: day %d outside the %d days asked for", a.Day, len(days))
			}
			d := &days[a.Day]
			d.BookingsConfirmed += a.Confirmed
			d.BookingsCancelled += a.Cancelled
			d.TicketsSold += a.ConfirmedSeats - a.CancelledSeats
			d.Revenue = append(d.Revenue, Money{Currency: a.Currency, Cents: a.ConfirmedCents - a.CancelledCents})
		}
		for i := range days {
			days[i].Revenue = mergeMoney(days[i].Revenue)
		}
		return Daily{Location: q.Location, Days: days, AsOf: asOf}, nil
	})
}

// Event reports one event (of any status).
func (s *Service) Event(ctx context.Context, id uuid.UUID) (EventReport, error) {
	return get(ctx, s.cache, "event|"+id.String(), func() (EventReport, error) {
		now := s.now()
		f, err := s.store.Event(ctx, id, now)
		if err != nil {
			return EventReport{}, err
		}
		r := EventReport{
			EventSales:       f.EventSales,
			Held:             f.Held,
			Booked:           f.Booked,
			Available:        max(f.Capacity-f.Held-f.Booked, 0),
			CancellationRate: CancellationRate(f.BookingsConfirmed, f.BookingsCancelled),
			SalesByDay:       f.SalesByDay,
			AsOf:             now.UTC(),
		}
		if r.SalesByDay == nil {
			r.SalesByDay = []DaySales{}
		}
		if s.waitlist != nil {
			if r.WaitlistWaiting, err = s.waitlist.Waiting(ctx, id); err != nil {
				return EventReport{}, err
			}
		}
		return r, nil
	})
}

func windowKey(w Window) string {
	var b strings.Builder
	for _, t := range []*time.Time{w.From, w.To} {
		if t != nil {
			b.WriteString(t.UTC().Format(time.RFC3339Nano))
		}
		b.WriteByte('|')
	}
	return b.String()
}

func sortMoney(m []Money) {
	slices.SortFunc(m, func(a, b Money) int { return strings.Compare(a.Currency, b.Currency) })
}

// mergeMoney sorts amounts by currency and adds up those of one currency.
func mergeMoney(m []Money) []Money {
	sortMoney(m)
	out := m[:0]
	for _, x := range m {
		if n := len(out); n > 0 && out[n-1].Currency == x.Currency {
			out[n-1].Cents += x.Cents
			continue
		}
		out = append(out, x)
	}
	return out
}
