package waitlist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/waitlist"
)

// line answers QueuedAt from a table: a place for some users, an error
// for the others.
type line struct {
	places map[uuid.UUID]time.Time
	err    error
}

func (l line) QueuedAt(_ context.Context, _, user uuid.UUID) (time.Time, error) {
	if at, ok := l.places[user]; ok {
		return at, nil
	}
	return time.Time{}, l.err
}

// TestJoinFromTheLine: on a sold-out event, a user with a place in the
// waiting room's line goes ahead of one who joined the waitlist earlier
// but later than the line's place; without a place, or when the waiting
// room cannot be read, a user queues from now; any other error refuses
// the join.
func TestJoinFromTheLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 2, 6)
	w.sellOut(t, 2)
	placed := w.Users[5]
	soldOutAt := w.Clock.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, c := range []struct {
		err  error
		want error
	}{
		{apperr.New(apperr.NotFound, "no ticket"), nil},
		{apperr.Wrap(errors.New("redis down"), apperr.Unavailable, "down"), nil},
		{errors.New("broken"), errors.New("broken")},
	} {
		svc := waitlist.NewService(postgres.NewWaitlistStore(w.Pool), waitlist.Options{Now: w.Clock.Now,
			Line: line{places: map[uuid.UUID]time.Time{placed.UserID: soldOutAt.Add(3 * time.Microsecond)}, err: c.err}})
		u := w.Users[2]
		before := w.Clock.Now().Truncate(time.Microsecond)
		_, err := svc.Join(ctx, w.Event.ID, u, 1)
		if (err == nil) != (c.want == nil) {
			t.Fatalf("Join with the line answering %v = %v, want error %v", c.err, err, c.want)
		}
		if err == nil {
			if e := w.entry(t, u); e.CreatedAt.Before(before) || e.CreatedAt.After(w.Clock.Now()) {
				t.Errorf("entry queued at %v, want now (from %v)", e.CreatedAt, before)
			}
			if err := svc.Leave(ctx, w.Event.ID, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc := waitlist.NewService(postgres.NewWaitlistStore(w.Pool), waitlist.Options{Now: w.Clock.Now,
		Line: line{places: map[uuid.UUID]time.Time{placed.UserID: soldOutAt.Add(3 * time.Microsecond)}, err: apperr.New(apperr.NotFound, "no ticket")}})
	early, err := svc.Join(ctx, w.Event.ID, w.Users[3], 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(time.Minute)
	late, err := svc.Join(ctx, w.Event.ID, placed, 1)
	if err != nil {
		t.Fatal(err)
	}
	if other := w.entry(t, w.Users[3]); !late.CreatedAt.Equal(soldOutAt.Add(3*time.Microsecond)) ||
		late.Position == nil || *late.Position != 1 || other.Position == nil || *other.Position != 2 {
		t.Errorf("the line's place: entry at %v position %v, the earlier joiner (%v) at %v; want the line first at 1, then 2",
			late.CreatedAt, deref(late.Position), early.CreatedAt, deref(other.Position))
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
