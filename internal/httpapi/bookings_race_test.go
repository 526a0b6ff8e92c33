package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redistest"
)

// race sends one POST /bookings per buyer, all at once, and returns the
// responses.
func (f *fixture) race(t *testing.T, tokens []string, body func(i int) map[string]any) []*apptest.Response {
	t.Helper()
	out := make([]*apptest.Response, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			<-start
			out[i] = f.env.Post(t, "/api/v1/bookings", tok, body(i))
		})
	}
	close(start)
	wg.Wait()
	return out
}

// tally counts responses by status and code.
func tally(t *testing.T, rs []*apptest.Response) (held []bookingJSON, codes map[string]int) {
	t.Helper()
	codes = map[string]int{}
	for _, r := range rs {
		if r.Status == 201 {
			var b bookingJSON
			r.Decode(t, &b)
			held = append(held, b)
			continue
		}
		codes[r.Problem(t).Code]++
	}
	return held, codes
}

// noSeatTwice fails when two holds share a seat, and checks the database's
// own invariants.
func (f *fixture) noSeatTwice(t *testing.T, eventID string, held []bookingJSON) {
	t.Helper()
	seen := map[string]string{}
	for _, b := range held {
		for _, s := range b.Seats {
			if other, ok := seen[s.ID]; ok {
				t.Errorf("seat %s is in bookings %s and %s", s.Label, other, b.ID)
			}
			seen[s.ID] = b.ID
		}
	}
	violations, err := postgres.CheckInvariants(context.Background(), f.db, uuid.MustParse(eventID))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("invariant broken: %s (%d rows)", v.Rule, v.Rows)
	}
}

func gaEvent(capacity int) func(map[string]any) {
	return set("sections", []any{map[string]any{"name": "Floor", "price_cents": 2500, "capacity": capacity}})
}

func TestRace200BuyersFor50Seats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(50))
	held, codes := tally(t, f.race(t, f.buyers(t, 200), func(int) map[string]any {
		return map[string]any{"event_id": e.ID, "quantity": 1}
	}))
	if len(held) != 50 || codes["sold_out"] != 150 || len(codes) != 1 {
		t.Errorf("%d holds and %v, want 50 holds and 150 sold_out", len(held), codes)
	}
	f.noSeatTwice(t, e.ID, held)
}

func TestRace100BuyersForTheSame5Seats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	seats := f.seatIDs(t, e.ID)[:5]
	held, codes := tally(t, f.race(t, f.buyers(t, 100), func(i int) map[string]any {
		// Each buyer lists the seats in its own order.
		order := make([]string, 5)
		for j := range order {
			order[j] = seats[(i+j)%5]
		}
		return map[string]any{"event_id": e.ID, "seat_ids": order}
	}))
	if len(held) != 1 || codes["seat_unavailable"] != 99 {
		t.Errorf("%d holds and %v, want 1 winner and 99 seat_unavailable", len(held), codes)
	}
	f.noSeatTwice(t, e.ID, held)
}

func TestRace50BuyersOf2SeatsOn60(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(60))
	held, codes := tally(t, f.race(t, f.buyers(t, 50), func(int) map[string]any {
		return map[string]any{"event_id": e.ID, "quantity": 2}
	}))
	if len(held) != 30 || codes["sold_out"] != 20 {
		t.Errorf("%d holds and %v, want 30 holds and 20 sold_out", len(held), codes)
	}
	f.noSeatTwice(t, e.ID, held)
}

// TestRaceNumberedSection races quantity buyers on a numbered section,
// where holds look for adjacent blocks, with buyers of specific seats.
func TestRaceNumberedSection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, set("sections", []any{map[string]any{"name": "Stalls", "price_cents": 1000, "rows": 5, "seats_per_row": 8}}))
	seats := f.seatIDs(t, e.ID)
	held, codes := tally(t, f.race(t, f.buyers(t, 60), func(i int) map[string]any {
		if i%3 == 0 {
			return map[string]any{"event_id": e.ID, "seat_ids": []string{seats[i%40], seats[(i+1)%40]}}
		}
		return map[string]any{"event_id": e.ID, "quantity": 1 + i%3}
	}))
	total := 0
	for _, b := range held {
		total += len(b.Seats)
	}
	if total > 40 {
		t.Errorf("%d seats held of 40", total)
	}
	for code := range codes {
		if code != "sold_out" && code != "seat_unavailable" {
			t.Errorf("unexpected refusal %q (%v)", code, codes)
		}
	}
	f.noSeatTwice(t, e.ID, held)
}

// TestRedisDownKeepsSellingWithoutOverselling cuts Redis: holds go on
// against Postgres alone, concurrent buyers of the same seats still get
// one winner, and confirmation works; when Redis is back, its locks are
// used again.
func TestRedisDownKeepsSellingWithoutOverselling(t *testing.T) {
	t.Parallel()
	proxied, proxy := apptest.Proxied(t, redistest.NewURL(t))
	f := newFixture(t, apptest.WithEnv("REDIS_URL", proxied))
	e := f.publish(t, gaEvent(30))
	seats := f.seatIDs(t, e.ID)
	buyers := f.buyers(t, 40)

	proxy.Stop()
	rs := f.race(t, buyers[:20], func(int) map[string]any {
		return map[string]any{"event_id": e.ID, "seat_ids": seats[:3]}
	})
	held, codes := tally(t, rs)
	winner := ""
	for i, r := range rs {
		if r.Status == 201 {
			winner = buyers[i]
		}
	}
	if len(held) != 1 || codes["seat_unavailable"] != 19 {
		t.Errorf("without Redis: %d holds and %v, want 1 winner and 19 seat_unavailable", len(held), codes)
	}
	more, codes := tally(t, f.race(t, buyers[20:], func(int) map[string]any {
		return map[string]any{"event_id": e.ID, "quantity": 2}
	}))
	if len(more) != 13 || codes["sold_out"] != 7 {
		t.Errorf("without Redis: %d quantity holds and %v, want 13 and 7 sold_out", len(more), codes)
	}
	if r := f.env.Post(t, "/api/v1/bookings/"+held[0].ID+"/confirm", winner, nil); r.Status != 200 {
		t.Errorf("confirm without Redis = %d %s", r.Status, r.Body)
	}
	f.noSeatTwice(t, e.ID, append(held, more...))

	proxy.Start()
	time.Sleep(5500 * time.Millisecond) // the engine retries Redis after its pause
	e2 := f.publish(t, gaEvent(10))
	s2 := f.seatIDs(t, e2.ID)
	f.hold(t, buyers[0], map[string]any{"event_id": e2.ID, "seat_ids": s2[:2]})
	opts, err := goredis.ParseURL(proxied)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	n, err := rdb.Exists(context.Background(), "seat:{"+e2.ID+"}:"+s2[0], "seat:{"+e2.ID+"}:"+s2[1]).Result()
	if err != nil || n != 2 {
		t.Errorf("after Redis came back, %d of 2 seat locks set (%v)", n, err)
	}
}

// TestEventCancelRacesHolds cancels an event while 40 buyers hold seats of
// it, by quantity and by seat id: the cancellation never deadlocks with
// the holds in flight (every write takes the event before its seats), no
// request answers 5xx, and afterwards the event is cancelled with no live
// booking and every seat available.
func TestEventCancelRacesHolds(t *testing.T) {
	t.Parallel()
	for round := range 3 {
		f := newFixture(t)
		e := f.publish(t, gaEvent(400))
		seats := f.seatIDs(t, e.ID)
		buyers := f.buyers(t, 40)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var cancelled *apptest.Response
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(round*15) * time.Millisecond)
			cancelled = f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil)
		})
		for i, tok := range buyers {
			wg.Go(func() {
				<-start
				for n := range 5 {
					body := map[string]any{"event_id": e.ID, "quantity": 1 + n%3}
					if i%2 == 0 {
						body = map[string]any{"event_id": e.ID, "seat_ids": []string{seats[(i*5+n)%len(seats)]}}
					}
					r := f.env.Post(t, "/api/v1/bookings", tok, body)
					if r.Status >= 500 {
						t.Errorf("hold during cancellation = %d %s", r.Status, r.Body)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if cancelled.Status != 200 {
			t.Fatalf("round %d: cancel = %d %s", round, cancelled.Status, cancelled.Body)
		}
		var live, taken int
		ctx := context.Background()
		if err := f.db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM bookings WHERE event_id = $1 AND status IN ('pending', 'confirmed')),
			(SELECT count(*) FROM seats WHERE event_id = $1 AND status <> 'available')`, e.ID).Scan(&live, &taken); err != nil {
			t.Fatal(err)
		}
		if live != 0 || taken != 0 {
			t.Errorf("round %d: after cancelling, %d live bookings and %d seats not available", round, live, taken)
		}
		f.noSeatTwice(t, e.ID, nil)
	}
}
