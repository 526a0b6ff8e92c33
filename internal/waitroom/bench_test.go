package waitroom_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

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
func benchRoom(b *testing.B, n int) (*waitroom.Service, *sim, []uuid.UUID) {
	b.Helper()
	s := newSim(b, 600, 0, time.Hour)
	users := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				users[i] = uuid.New()
				if _, _, err := s.queue.Join(s.ctx, s.event, users[i], time.Now(), uuid.NewString()); err != nil {
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
	for _, n := range benchSizes {
		svc, s, users := benchRoom(b, n)
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

// BenchmarkJoin: new users join at the back of the queue.
func BenchmarkJoin(b *testing.B) {
	benchEach(b, "joins/s", func(svc *waitroom.Service, s *sim, _ uuid.UUID) error {
		_, err := svc.Join(s.ctx, s.event, uuid.New())
		return err
	})
}

// BenchmarkAdmitted is the booking engine's check while a room is enabled.
func BenchmarkAdmitted(b *testing.B) {
	benchEach(b, "checks/s", func(svc *waitroom.Service, s *sim, user uuid.UUID) error {
		_, err := svc.Admitted(s.ctx, s.event, user)
		return err
	})
}
