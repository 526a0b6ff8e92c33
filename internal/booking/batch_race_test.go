package booking_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/bookingtest"
	"github.com/evently/evently/internal/postgres"
)

// gatedStore holds the first hold batch until the gate opens, so that a
// test can pile every racing request up behind it: they all land in the
// next batch, one transaction.
type gatedStore struct {
	booking.Store
	gate chan struct{}
	once sync.Once
}

func (g *gatedStore) Hold(ctx context.Context, b booking.HoldBatch) (booking.HoldResults, error) {
	g.once.Do(func() { <-g.gate })
	return g.Store.Hold(ctx, b)
}

// noLocks is Redis gone: every seat-lock call fails, so holds of specific
// seats reach Postgres unfiltered.
type noLocks struct{}

func (noLocks) Acquire(context.Context, uuid.UUID, []uuid.UUID, uuid.UUID, time.Duration) ([]uuid.UUID, error) {
	return nil, context.DeadlineExceeded
}
func (noLocks) Set(context.Context, uuid.UUID, []booking.SeatLock, time.Duration) error {
	return context.DeadlineExceeded
}
func (noLocks) Release(context.Context, uuid.UUID, []uuid.UUID, uuid.UUID) error {
	return context.DeadlineExceeded
}

// batchSizes records the size of every hold batch committed.
type batchSizes struct {
	mu    sync.Mutex
	holds []int
}

func (*batchSizes) Held(booking.Booking, time.Duration)           {}
func (*batchSizes) Refused(uuid.UUID, apperr.Code, time.Duration) {}
func (*batchSizes) Confirmed(booking.Booking)                     {}
func (*batchSizes) Cancelled(booking.Booking)                     {}
func (*batchSizes) Expired(int)                                   {}

func (o *batchSizes) Batched(kind string, size int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if kind == "hold" {
		o.holds = append(o.holds, size)
	}
}

func (o *batchSizes) largest() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := 0
	for _, n := range o.holds {
		m = max(m, n)
	}
	return m
}

// TestOneBatch100BuyersFor10Seats puts 100 buyers into the same batch
// window for the same 10 seats — asking by seat id (with Redis gone, so
// Postgres alone decides) and by quantity — and checks that the batch
// gives no seat twice, refuses the rest with seat_unavailable or sold_out
// (never an error), sells every seat to the quantity buyers, and leaves
// every invariant intact.
func TestOneBatch100BuyersFor10Seats(t *testing.T) {
	t.Parallel()
	for _, byID := range []bool{true, false} {
		name := map[bool]string{true: "by seat id", false: "by quantity"}[byID]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			en := newEngine(t, time.Minute, 101, bookingtest.General("Floor", 1000, 11))
			seats := en.seatIDs(t)
			gate := &gatedStore{Store: postgres.NewBookingStore(en.Pool), gate: make(chan struct{})}
			sizes := &batchSizes{}
			svc := booking.NewService(gate, noLocks{}, booking.Options{Now: en.Clock.Now, Observer: sizes,
				LocksPause: time.Hour})

			// The opener's batch (the 11th seat) waits at the gate while
			// the 100 buyers queue behind it.
			opened := make(chan error, 1)
			go func() {
				_, err := svc.Hold(ctx, booking.HoldRequest{EventID: en.Event.ID, UserID: en.Users[100].UserID,
					SeatIDs: seats[10:11]})
				opened <- err
			}()
			time.Sleep(100 * time.Millisecond)
			var (
				wg      sync.WaitGroup
				queued  atomic.Int64
				results = make([]booking.Booking, 100)
				errs    = make([]error, 100)
			)
			for i := range 100 {
				wg.Go(func() {
					req := booking.HoldRequest{EventID: en.Event.ID, UserID: en.Users[i].UserID}
					if byID {
						req.SeatIDs = []uuid.UUID{seats[i%10], seats[(i*7+3)%10]}
						if i%3 == 0 {
							req.SeatIDs = req.SeatIDs[:1]
						}
						if req.SeatIDs[0] == req.SeatIDs[len(req.SeatIDs)-1] {
							req.SeatIDs = req.SeatIDs[:1]
						}
					} else {
						req.Quantity = 1 + i%2
					}
					queued.Add(1)
					results[i], errs[i] = svc.Hold(ctx, req)
				})
			}
			for queued.Load() < 100 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // let the last ones reach the queue
			close(gate.gate)
			wg.Wait()
			if err := <-opened; err != nil {
				t.Fatalf("opener: %v", err)
			}

			owner := map[uuid.UUID]int{}
			held := 0
			for i, err := range errs {
				if err != nil {
					if !apperr.Is(err, apperr.SeatUnavailable) && !apperr.Is(err, apperr.SoldOut) {
						t.Errorf("buyer %d: %v, want a hold, seat_unavailable or sold_out", i, err)
					}
					continue
				}
				for _, s := range results[i].Seats {
					if j, ok := owner[s.ID]; ok {
						t.Errorf("seat %s given to buyers %d and %d", s.Label, j, i)
					}
					owner[s.ID] = i
					held++
				}
			}
			if held > 10 || held == 0 {
				t.Errorf("%d seats held among 10", held)
			}
			if !byID && held != 10 {
				t.Errorf("quantity buyers held %d of the 10 seats, want all", held)
			}
			if n := sizes.largest(); n < 50 {
				t.Errorf("largest hold batch had %d requests, want most of the 100 in one (sizes %v)", n, sizes.holds)
			}
			var live int
			if err := en.Pool.QueryRow(ctx, `SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'held'`,
				en.Event.ID).Scan(&live); err != nil || live != held+1 {
				t.Errorf("%d seats held in Postgres, want %d (%v)", live, held+1, err)
			}
			en.CheckInvariants(t)
		})
	}
}
