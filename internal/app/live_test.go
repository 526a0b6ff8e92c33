package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/booking"
	"github.com/evently/evently/internal/feed"
	"github.com/evently/evently/internal/waitroom"
)

// notices records what the live stores announce.
type notices struct{ got []feed.Notice }

func (n *notices) changed(id uuid.UUID, k feed.Kind) {
	n.got = append(n.got, feed.Notice{EventID: id, Kinds: k})
}

// fakeBookings answers as a committed batch would.
type fakeBookings struct {
	booking.Store
	holds  booking.HoldResults
	settle []booking.ChangeOutcome
	err    error
}

func (f fakeBookings) Hold(context.Context, booking.HoldBatch) (booking.HoldResults, error) {
	return f.holds, f.err
}

func (f fakeBookings) Settle(context.Context, time.Time, []booking.Change) ([]booking.ChangeOutcome, error) {
	return f.settle, f.err
}

// TestLiveBookingsAnnounceOncePerEventPerBatch: a batch that held twenty
// bookings of one event is one notice; a lifecycle batch over three
// events is three; batches that changed nothing are none; a batch whose
// outcome is unknown (an error) is announced, since it may have
// committed.
func TestLiveBookingsAnnounceOncePerEventPerBatch(t *testing.T) {
	ev, other, third := uuid.New(), uuid.New(), uuid.New()
	held := booking.HoldResults{Refusals: make([]error, 20)}
	refused := booking.HoldResults{Refusals: []error{errors.New("sold out"), errors.New("sold out")}}
	outcome := func(id uuid.UUID, v booking.Verdict) booking.ChangeOutcome {
		return booking.ChangeOutcome{Verdict: v, Booking: booking.Booking{EventID: id}}
	}
	for _, c := range []struct {
		name  string
		store fakeBookings
		hold  bool
		want  []uuid.UUID
	}{
		{"hold batch of 20", fakeBookings{holds: held}, true, []uuid.UUID{ev}},
		{"hold batch all refused", fakeBookings{holds: refused}, true, nil},
		{"hold batch failed", fakeBookings{err: errors.New("connection lost")}, true, []uuid.UUID{ev}},
		{"lifecycle over three events", fakeBookings{settle: []booking.ChangeOutcome{
			outcome(ev, booking.DoConfirm), outcome(other, booking.DoCancel), outcome(ev, booking.DoCancel),
			outcome(third, booking.DoExpire), outcome(other, booking.DoConfirm), outcome(ev, booking.Leave),
		}}, false, []uuid.UUID{ev, other, third}},
		{"lifecycle that changed nothing", fakeBookings{settle: []booking.ChangeOutcome{outcome(ev, booking.Leave)}}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n notices
			s := liveBookings{c.store, n.changed}
			if c.hold {
				_, _ = s.Hold(context.Background(), booking.HoldBatch{EventID: ev})
			} else {
				_, _ = s.Settle(context.Background(), time.Now(), nil)
			}
			var got []uuid.UUID
			for _, nt := range n.got {
				if nt.Kinds != feed.Availability {
					t.Errorf("notice of %v, want availability", nt.Kinds)
				}
				got = append(got, nt.EventID)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("announced %v, want %v", got, c.want)
			}
		})
	}
}

type fakeQueue struct {
	waitroom.Queue
	b waitroom.Batch
}

func (q fakeQueue) Admit(context.Context, waitroom.Run, waitroom.Policy, time.Time) (waitroom.Batch, error) {
	return q.b, nil
}

// TestLiveQueueAnnouncesAdmissions: an admission run that admitted
// someone moved the line (one queue notice); one that admitted nobody, or
// was stale, did not.
func TestLiveQueueAnnouncesAdmissions(t *testing.T) {
	id := uuid.New()
	for _, c := range []struct {
		b    waitroom.Batch
		want int
	}{
		{waitroom.Batch{Outcome: waitroom.Ran, Admitted: 7}, 1},
		{waitroom.Batch{Outcome: waitroom.Ran}, 0},
		{waitroom.Batch{Outcome: waitroom.Stale, Admitted: 7}, 0},
	} {
		var n notices
		q := liveQueue{fakeQueue{b: c.b}, n.changed}
		_, _ = q.Admit(context.Background(), waitroom.Run{EventID: id}, waitroom.Policy{}, time.Now())
		if len(n.got) != c.want || (c.want == 1 && n.got[0] != (feed.Notice{EventID: id, Kinds: feed.Queue})) {
			t.Errorf("batch %+v: announced %v, want %d queue notice(s)", c.b, n.got, c.want)
		}
	}
}
