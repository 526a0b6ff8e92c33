package analytics

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/clocktest"
)

// fakeStore answers with fixed figures and counts the calls.
type fakeStore struct {
	totals   Totals
	popular  []EventSales
	activity []Activity
	facts    EventFacts
	err      error
	calls    atomic.Int64
	gate     chan struct{} // when set, calls wait for it to close
	bounds   []time.Time
}

func (f *fakeStore) call() error {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	return f.err
}

func (f *fakeStore) Totals(context.Context, Window) (Totals, error) { return f.totals, f.call() }
func (f *fakeStore) Popular(context.Context, PopularQuery) ([]EventSales, error) {
	return f.popular, f.call()
}
func (f *fakeStore) Activity(_ context.Context, bounds []time.Time) ([]Activity, error) {
	f.bounds = bounds
	return f.activity, f.call()
}
func (f *fakeStore) Event(context.Context, uuid.UUID, time.Time) (EventFacts, error) {
	return f.facts, f.call()
}

type fakeWaitlist int64

func (w fakeWaitlist) Waiting(context.Context, uuid.UUID) (int64, error) { return int64(w), nil }

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestSummaryAddsUpCurrencies(t *testing.T) {
	t.Parallel()
	store := &fakeStore{totals: Totals{Events: 3, Capacity: 40, ByCurrency: []CurrencyTotals{
		{Currency: "EUR", BookingsConfirmed: 2, TicketsSold: 5, RevenueCents: 12500, BookingsCancelled: 1},
		{Currency: "GBP", BookingsConfirmed: 0, TicketsSold: 0, RevenueCents: 0, BookingsCancelled: 2},
		{Currency: "USD", BookingsConfirmed: 1, TicketsSold: 3, RevenueCents: 9000, BookingsCancelled: 0},
	}}}
	svc := NewService(store, Options{Now: func() time.Time { return t0 }})
	got, err := svc.Summary(context.Background(), Window{})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{
		EventsPublished: 3, CapacityTotal: 40, TicketsSold: 8, BookingsConfirmed: 3, BookingsCancelled: 3,
		CancellationRate: 0.5, CapacityUtilization: 0.2,
		Revenue: []Money{{"EUR", 12500}, {"USD", 9000}}, // GBP has no booking confirmed now
		AsOf:    t0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summary() = %+v\nwant %+v", got, want)
	}

	empty := NewService(&fakeStore{}, Options{})
	got, err = empty.Summary(context.Background(), Window{})
	if err != nil || got.Revenue == nil || len(got.Revenue) != 0 || got.CancellationRate != 0 || got.CapacityUtilization != 0 {
		t.Errorf("empty Summary() = %+v, %v; want zeros and an empty revenue list", got, err)
	}
}

func TestDailyFillsDaysAndNetsCurrencies(t *testing.T) {
	t.Parallel()
	store := &fakeStore{activity: []Activity{
		{Day: 0, Currency: "USD", Confirmed: 2, ConfirmedSeats: 3, ConfirmedCents: 300},
		{Day: 2, Currency: "EUR", Confirmed: 1, ConfirmedSeats: 1, ConfirmedCents: 50, Cancelled: 2, CancelledSeats: 4, CancelledCents: 400},
		{Day: 2, Currency: "AUD", Cancelled: 1, CancelledSeats: 1, CancelledCents: 10},
	}}
	svc := NewService(store, Options{Now: func() time.Time { return t0 }})
	q, err := ParseDailyQuery("2026-03-28", "2026-03-31", "Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Daily(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(store.bounds) != 5 {
		t.Errorf("Activity got %d bounds, want 5 (4 days)", len(store.bounds))
	}
	want := []Day{
		{Date: date("2026-03-28"), BookingsConfirmed: 2, TicketsSold: 3, Revenue: []Money{{"USD", 300}}},
		{Date: date("2026-03-29"), Revenue: []Money{}},
		{Date: date("2026-03-30"), BookingsConfirmed: 1, TicketsSold: -4, BookingsCancelled: 3,
			Revenue: []Money{{"AUD", -10}, {"EUR", -350}}},
		{Date: date("2026-03-31"), Revenue: []Money{}},
	}
	if !reflect.DeepEqual(got.Days, want) || got.Location.String() != "Europe/London" || !got.AsOf.Equal(t0) {
		t.Errorf("Daily() = %+v\nwant days %+v", got, want)
	}

	store.activity = []Activity{{Day: 4, Currency: "USD", Confirmed: 1}}
	svc = NewService(store, Options{})
	if _, err := svc.Daily(context.Background(), q); err == nil {
		t.Error("Daily() accepted activity outside the days asked for")
	}
}

func TestEventReport(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	store := &fakeStore{facts: EventFacts{
		EventSales: EventSales{EventID: id, Name: "Hamlet", Currency: "GBP", Capacity: 10, TicketsSold: 4,
			RevenueCents: 14000, BookingsConfirmed: 2, BookingsCancelled: 1},
		Held: 3, Booked: 4,
	}}
	svc := NewService(store, Options{Waitlist: fakeWaitlist(7), Now: func() time.Time { return t0 }})
	got, err := svc.Event(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Available != 3 || got.Held != 3 || got.Booked != 4 || got.Utilization() != 0.4 ||
		got.CancellationRate != 1.0/3.0 || got.WaitlistWaiting != 7 || got.SalesByDay == nil || !got.AsOf.Equal(t0) {
		t.Errorf("Event() = %+v", got)
	}
	// Without a waitlist, nobody waits.
	got, _ = NewService(store, Options{}).Event(context.Background(), id)
	if got.WaitlistWaiting != 0 {
		t.Errorf("WaitlistWaiting = %d without a waitlist, want 0", got.WaitlistWaiting)
	}
}

func TestCacheServesForTTLOnly(t *testing.T) {
	t.Parallel()
	c := clocktest.New(t0)
	store := &fakeStore{totals: Totals{Events: 1}}
	svc := NewService(store, Options{CacheTTL: 2 * time.Second, Now: c.Now})
	ctx := context.Background()
	first, _ := svc.Summary(ctx, Window{})
	store.totals.Events = 2
	c.Advance(1900 * time.Millisecond)
	if got, _ := svc.Summary(ctx, Window{}); got.EventsPublished != 1 || !got.AsOf.Equal(first.AsOf) || store.calls.Load() != 1 {
		t.Errorf("within the TTL: %d events, %d store calls; want the cached 1 and 1 call", got.EventsPublished, store.calls.Load())
	}
	// Another window is another report.
	from := t0
	if got, _ := svc.Summary(ctx, Window{From: &from}); got.EventsPublished != 2 {
		t.Errorf("another window served a cached report")
	}
	c.Advance(200 * time.Millisecond)
	if got, _ := svc.Summary(ctx, Window{}); got.EventsPublished != 2 || !got.AsOf.Equal(t0.Add(2100*time.Millisecond)) {
		t.Errorf("after the TTL: %+v, want fresh figures", got)
	}
	// No TTL, no cache.
	nocache := &fakeStore{}
	svc = NewService(nocache, Options{})
	_, _ = svc.Summary(ctx, Window{})
	_, _ = svc.Summary(ctx, Window{})
	if nocache.calls.Load() != 2 {
		t.Errorf("CacheTTL 0: %d store calls for 2 reports, want 2", nocache.calls.Load())
	}
}

func TestCacheComputesOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	store := &fakeStore{totals: Totals{Events: 5}, gate: make(chan struct{})}
	svc := NewService(store, Options{CacheTTL: time.Second})
	var wg sync.WaitGroup
	results := make([]int64, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := svc.Summary(context.Background(), Window{})
			if err != nil {
				t.Error(err)
			}
			results[i] = s.EventsPublished
		}()
	}
	for store.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue behind the first
	close(store.gate)
	wg.Wait()
	if n := store.calls.Load(); n != 1 {
		t.Errorf("%d store calls for 20 concurrent reports, want 1", n)
	}
	for _, r := range results {
		if r != 5 {
			t.Fatalf("results = %v", results)
		}
	}
}

func TestCacheKeepsNoErrors(t *testing.T) {
	t.Parallel()
	store := &fakeStore{err: errors.New("boom")}
	svc := NewService(store, Options{CacheTTL: time.Minute})
	if _, err := svc.Summary(context.Background(), Window{}); err == nil {
		t.Fatal("Summary() hid the store's error")
	}
	store.err = nil
	store.totals.Events = 4
	if got, err := svc.Summary(context.Background(), Window{}); err != nil || got.EventsPublished != 4 {
		t.Errorf("after a failure: %+v, %v; want fresh figures", got, err)
	}
}
