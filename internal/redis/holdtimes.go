package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/latency"
)

// HoldTimes keeps every process's hold-time histograms per event and
// second, so that a self-tuning waiting room judges the holds of all
// replicas, whichever one runs its admissions:
//
//	holdtimes:{E}:<unix second>  hash: bucket → count, kept two Spans
type HoldTimes struct {
	rdb goredis.UniversalClient
}

// NewHoldTimes returns the store on rdb.
func NewHoldTimes(rdb goredis.UniversalClient) *HoldTimes { return &HoldTimes{rdb: rdb} }

func holdTimesKey(eventID uuid.UUID, sec int64) string {
	return "holdtimes:{" + eventID.String() + "}:" + strconv.FormatInt(sec, 10)
}

// holdTimesTTL is how long a second's histogram is kept.
const holdTimesTTL = 2 * latency.Span

// Add adds the seconds' counts to the shared histograms, in one pipeline.
func (h *HoldTimes) Add(ctx context.Context, secs []latency.Second) error {
	if len(secs) == 0 {
		return nil
	}
	pipe := h.rdb.Pipeline()
	for _, s := range secs {
		key := holdTimesKey(s.Key, s.At)
		for b, c := range s.Counts {
			pipe.HIncrBy(ctx, key, strconv.Itoa(b), int64(c))
		}
		pipe.Expire(ctx, key, holdTimesTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("add hold times: %w", err)
	}
	return nil
}

// Histogram sums the event's histograms of the whole seconds after since
// up to and including now's, in one pipeline.
func (h *HoldTimes) Histogram(ctx context.Context, eventID uuid.UUID, since, now time.Time) (latency.Histogram, error) {
	var out latency.Histogram
	from, to := max(since.Unix()+1, now.Unix()-int64(latency.Span/time.Second)+1), now.Unix()
	if from > to {
		return out, nil
	}
	pipe := h.rdb.Pipeline()
	reads := make([]*goredis.MapStringStringCmd, 0, to-from+1)
	for sec := from; sec <= to; sec++ {
		reads = append(reads, pipe.HGetAll(ctx, holdTimesKey(eventID, sec)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return out, fmt.Errorf("read hold times event=%s: %w", eventID, err)
	}
	for _, r := range reads {
		for f, v := range r.Val() {
			b, err := strconv.Atoi(f)
			n, err2 := strconv.ParseUint(v, 10, 64)
			if err != nil || err2 != nil || b < 0 || b >= latency.NumBuckets {
				return out, fmt.Errorf("read hold times event=%s: malformed %q=%q", eventID, f, v)
			}
			out[b] += n
		}
	}
	return out, nil
}
