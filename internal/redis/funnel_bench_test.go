package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// BenchmarkFunnelCounting measures what the funnel counting adds to the
// waiting room's two scripts that count it, on the real Redis, with it on
// and off (redis.WithoutFunnel): a join (8 at once, new users joining an
// open room), and an admission run admitting 100 waiting users (the
// joins before each run are not timed).
//
//	go test -run '^$' -bench FunnelCounting -benchtime 3s ./internal/redis/
func BenchmarkFunnelCounting(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []redis.RoomOption
	}{{"funnel=on", nil}, {"funnel=off", []redis.RoomOption{redis.WithoutFunnel()}}} {
		b.Run("join/"+c.name, func(b *testing.B) {
			q := redis.NewWaitingRooms(redistest.New(b), c.opts...)
			event := uuid.New()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a := waitroom.Arrival{UserID: uuid.New(), At: time.Now(), Open: true, Key: 1}
					if _, _, err := q.Join(context.Background(), event, a, "chain"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "joins/s")
		})
		b.Run("admit100/"+c.name, func(b *testing.B) {
			ctx := context.Background()
			q := redis.NewWaitingRooms(redistest.New(b), c.opts...)
			event := uuid.New()
			policy := waitroom.Policy{Open: true, AdmitPerMinute: 100_000, AdmissionTTL: time.Hour, Burst: 100, Start: 100}
			const batch = 100
			var ran time.Duration
			base := time.Now()
			for i := range b.N {
				b.StopTimer()
				// A minute apart: the last minute's admissions never use
				// up the rate.
				now := base.Add(time.Duration(i) * time.Minute)
				for range batch {
					a := waitroom.Arrival{UserID: uuid.New(), At: now, Open: true, Key: 1}
					if _, _, err := q.Join(ctx, event, a, "chain"); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				t0 := time.Now()
				// The joins armed the chain at step 0 (the run that admits
				// everyone releases it): its bucket starts full.
				bt, err := q.Admit(ctx, waitroom.Run{EventID: event, Chain: "chain"}, policy, now)
				ran += time.Since(t0)
				if err != nil || bt.Admitted != batch {
					b.Fatalf("Admit = %+v, %v; want %d admitted", bt, err, batch)
				}
			}
			b.ReportMetric(float64(ran.Microseconds())/float64(b.N*batch), "µs/admission")
		})
	}
}
