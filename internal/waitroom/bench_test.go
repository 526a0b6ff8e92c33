package waitroom_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/waitroom"
)

// The benchmarks measure the per-request cost of a waiting room holding
// 1,000 and 100,000 waiting users, through the Service (with its default
// one-second settings cache) on the real Redis: the cost must not grow
// with the queue.
//
//	go test -run '^$' -bench . -benchtime 5s ./internal/waitroom/

var benchSizes = []int{1_000, 100_000}

// benchRoom returns a Service over a room where n users wait, and them.
// With preQueue, they joined before sales opened: the room has opened
// since, so their places are their draws' ranks.
func benchRoom(b *testing.B, n int, preQueue bool) (*waitroom.Service, *sim, []uuid.UUID) {
	b.Helper()
	s := newSim(b, 600, 0, time.Hour)
	users := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				users[i] = uuid.New()
				a := waitroom.Arrival{UserID: users[i], At: time.Now(), Open: !preQueue, Key: rand.Uint64()}
				if _, _, err := s.queue.Join(s.ctx, s.event, a, uuid.NewString()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if c := s.counts(); c.Waiting != int64(n) {
		b.Fatalf("%d waiting, want %d", c.Waiting, n)
	}
	svc := waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{})
	return svc, s, users
}

// benchEach runs op in parallel against rooms of each size and reports
// its rate in unit.
func benchEach(b *testing.B, unit string, op func(svc *waitroom.Service, s *sim, user uuid.UUID) error) {
	benchRooms(b, unit, false, op)
}

func benchRooms(b *testing.B, unit string, preQueue bool, op func(svc *waitroom.Service, s *sim, user uuid.UUID) error) {
	for _, n := range benchSizes {
		svc, s, users := benchRoom(b, n, preQueue)
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					if err := op(svc, s, users[rng.IntN(n)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
		})
	}
}

// BenchmarkPoll is GET /events/{id}/waiting-room without HTTP: a random
// waiting user reads their ticket.
func BenchmarkPoll(b *testing.B) {
	benchEach(b, "polls/s", func(svc *waitroom.Service, s *sim, user uuid.UUID) error {
		tk, err := svc.Status(s.ctx, s.event, user)
		if err == nil && tk.Status != waitroom.StatusWaiting {
			err = fmt.Errorf("ticket %+v, want waiting", tk)
		}
		return err
	})
}

// BenchmarkPollShuffled: the same after an opening that placed every
// waiting user from the pre-queue (a ZRANK more per poll).
func BenchmarkPollShuffled(b *testing.B) {
	benchRooms(b, "polls/s", true, func(svc *waitroom.Service, s *sim, user uuid.UUID) error {
		tk, err := svc.Status(s.ctx, s.event, user)
		if err == nil && (tk.Status != waitroom.StatusWaiting || tk.Position == nil) {
			err = fmt.Errorf("ticket %+v, want waiting with a position", tk)
		}
		return err
	})
}

// BenchmarkJoin: new users join at the back of the queue.
func BenchmarkJoin(b *testing.B) {
	benchEach(b, "joins/s", func(svc *waitroom.Service, s *sim, _ uuid.UUID) error {
		_, err := svc.Join(s.ctx, s.event, uuid.New())
		return err
	})
}

// BenchmarkAdmitted is the booking engine's check while a room is
// enabled, without a pass: one ZSCORE.
func BenchmarkAdmitted(b *testing.B) {
	benchEach(b, "checks/s", func(svc *waitroom.Service, s *sim, user uuid.UUID) error {
		if err := svc.CheckAdmission(s.ctx, s.event, user, ""); !apperr.Is(err, apperr.WaitingRoomRequired) {
			return fmt.Errorf("CheckAdmission(waiting user) = %v, want waiting_room_required", err)
		}
		return nil
	})
}

// BenchmarkPass is the same check with a valid pass: no Redis (but the
// revocation list's read every two seconds).
func BenchmarkPass(b *testing.B) {
	s := newSim(b, 600, 0, time.Hour)
	svc := waitroom.NewService(s.cat, s.queue, s.sched, waitroom.Options{PassSecret: []byte("bench")})
	passes := waitroom.NewPasses([]byte("bench"))
	user := uuid.New()
	pass := passes.Sign(waitroom.Pass{EventID: s.event, UserID: user, Admission: 1, Expires: time.Now().Add(time.Hour)})
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := svc.CheckAdmission(s.ctx, s.event, user, pass); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
