package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/funnel"
)

// Funnel reads the waiting rooms' funnel counters: the per-minute joins
// and admissions and, per admission, the time it waited, its user and
// when it lapses, which the join and admission scripts record as they
// happen (see WaitingRooms).
type Funnel struct {
	rdb goredis.UniversalClient
}

var _ funnel.Rooms = (*Funnel)(nil)

// NewFunnel returns the reader on rdb.
func NewFunnel(rdb goredis.UniversalClient) *Funnel { return &Funnel{rdb: rdb} }

// Figures implements funnel.Rooms in one pipeline on the event's slot: an
// HMGET of the range's minutes, a ZRANGEBYSCORE of its admissions (with
// their times) and a
// ZCOUNT of the admissions running at now.
func (f *Funnel) Figures(ctx context.Context, eventID uuid.UUID, from, to, now time.Time) (funnel.RoomFigures, error) {
	k := keysOf(eventID)
	var minutes []time.Time
	var fields []string
	for m := from.Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
		n := strconv.FormatInt(m.Unix()/60, 10)
		minutes = append(minutes, m.UTC())
		fields = append(fields, "j:"+n, "a:"+n)
	}
	pipe := f.rdb.Pipeline()
	counts := pipe.HMGet(ctx, k.funnel, fields...)
	waits := pipe.ZRangeByScoreWithScores(ctx, k.waits, &goredis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMilli(), 10), Max: "(" + strconv.FormatInt(to.UnixMilli(), 10),
	})
	active := pipe.ZCount(ctx, k.active, "("+strconv.FormatInt(now.UnixMilli(), 10), "+inf")
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		return funnel.RoomFigures{}, fmt.Errorf("read funnel counters event=%s: %w", eventID, err)
	}
	out := funnel.RoomFigures{Joined: map[time.Time]int64{}, Admitted: map[time.Time]int64{}, Active: active.Val()}
	for i, v := range counts.Val() {
		s, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return funnel.RoomFigures{}, fmt.Errorf("read funnel counters event=%s: malformed %q", eventID, s)
		}
		if i%2 == 0 {
			out.Joined[minutes[i/2]] = n
		} else {
			out.Admitted[minutes[i/2]] = n
		}
	}
	for _, z := range waits.Val() {
		wait, a, err := admissionOf(z)
		if err != nil {
			return funnel.RoomFigures{}, fmt.Errorf("read queue waits event=%s: %w", eventID, err)
		}
		out.Waits = append(out.Waits, wait)
		if a != nil {
			out.Admissions = append(out.Admissions, *a)
		}
	}
	return out, nil
}

// admissionOf decodes a member of the waits set, scored by the admission's
// time: "number:wait_ms:until_ms:user", or "number:wait_ms" as written
// before the user was kept (no admission then).
func admissionOf(z goredis.Z) (time.Duration, *funnel.Admission, error) {
	m, _ := z.Member.(string)
	f := strings.Split(m, ":")
	if len(f) != 2 && len(f) != 4 {
		return 0, nil, fmt.Errorf("malformed member %q", m)
	}
	wait, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("malformed member %q", m)
	}
	if len(f) == 2 {
		return time.Duration(wait) * time.Millisecond, nil, nil
	}
	until, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("malformed member %q", m)
	}
	user, err := uuid.Parse(f[3])
	if err != nil {
		return 0, nil, fmt.Errorf("malformed member %q", m)
	}
	return time.Duration(wait) * time.Millisecond, &funnel.Admission{UserID: user,
		At: time.UnixMilli(int64(z.Score)).UTC(), Until: time.UnixMilli(until).UTC()}, nil
}
