package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/event"
)

// BenchmarkConfirmRollup measures what the analytics triggers add to a
// confirmation: confirmations of one event's holds, one at a time and from
// 16 goroutines at once (where the shard rows keep them from queueing on
// one rollup row), with the triggers on and off:
//
//	go test -run '^$' -bench ConfirmRollup -benchtime 2000x ./internal/postgres/
func BenchmarkConfirmRollup(b *testing.B) {
	for _, triggers := range []bool{true, false} {
		name := "triggers-on"
		if !triggers {
			name = "triggers-off"
		}
		for _, parallel := range []bool{false, true} {
			sub := name + "/sequential"
			if parallel {
				sub = name + "/16-concurrent"
			}
			b.Run(sub, func(b *testing.B) {
				h := newHistory(b)
				if !triggers {
					h.exec(`ALTER TABLE bookings DISABLE TRIGGER analytics_bookings_update`)
				}
				e := h.event("Bench", "USD", "published", time.Now().Add(24*time.Hour),
					event.Section{Name: "Floor", PriceCents: 1000, Capacity: 100_000})
				ids := make([]uuid.UUID, b.N)
				now := time.Now()
				for i := range ids {
					ids[i] = h.hold(e, now, i+1)
				}
				var next atomic.Int64
				ctx := context.Background()
				confirm := func() {
					i := next.Add(1) - 1
					if err := confirmAs(ctx, h.bookings, ids[i], h.user, time.Now()); err != nil {
						b.Error(err)
					}
				}
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8) // 16 goroutines on 2 CPUs
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							confirm()
						}
					})
				} else {
					for range b.N {
						confirm()
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/confirm")
				if triggers {
					h.noDrift("after the benchmark")
				}
			})
		}
	}
}
