package funnel_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/funnel"
)

type rooms struct {
	figs     funnel.RoomFigures
	from, to time.Time
}

func (r *rooms) Figures(_ context.Context, _ uuid.UUID, from, to, _ time.Time) (funnel.RoomFigures, error) {
	r.from, r.to = from, to
	return r.figs, nil
}

type bookings struct {
	figs funnel.BookingFigures
	// firstHold is each user's first booking time.
	firstHold map[uuid.UUID]time.Time
	asked     *[]funnel.Admission
}

func (b bookings) Figures(context.Context, uuid.UUID, time.Time, time.Time, time.Time) (funnel.BookingFigures, error) {
	return b.figs, nil
}

// AdmissionToHold is the Postgres store's answer worked out by hand:
// nearest-rank percentiles of the first hold in each window.
func (b bookings) AdmissionToHold(_ context.Context, _ uuid.UUID, as []funnel.Admission) (*time.Duration, *time.Duration, error) {
	if b.asked != nil {
		*b.asked = as
	}
	var ds []time.Duration
	for _, a := range as {
		if h, ok := b.firstHold[a.UserID]; ok && !h.Before(a.At) && h.Before(a.Until) {
			ds = append(ds, h.Sub(a.At))
		}
	}
	if len(ds) == 0 {
		return nil, nil, nil
	}
	slices.Sort(ds)
	p := func(q float64) *time.Duration { return &ds[int(math.Ceil(q*float64(len(ds))))-1] }
	return p(0.5), p(0.9), nil
}

var now = time.Date(2030, 5, 1, 10, 30, 20, 0, time.UTC)

func at(m int) time.Time { return time.Date(2030, 5, 1, 10, m, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

// TestReport: ranges default to the hour up to now's minute and widen to
// whole minutes; bad ranges are Invalid; the totals add the minutes up;
// abandoned leaves out the admissions still running when the range
// covers now; percentiles are nearest-rank; the forecast divides the
// seats left by the recent rate.
func TestReport(t *testing.T) {
	t.Parallel()
	r := &rooms{figs: funnel.RoomFigures{
		Joined:   map[time.Time]int64{at(29): 10, at(30): 5, at(2): 99},
		Admitted: map[time.Time]int64{at(29): 8, at(30): 4},
		Waits:    []time.Duration{4 * time.Second, time.Second, 3 * time.Second, 2 * time.Second, 10 * time.Second},
		Active:   3,
	}}
	b := bookings{figs: funnel.BookingFigures{HeldBuyers: 6, ConfirmedBuyers: 3, Holds: 7, Expired: 2,
		Held: map[time.Time]int64{at(30): 7}, Confirmed: map[time.Time]int64{at(30): 3},
		SeatsLeft: 40, SeatsRecent: 20}}
	s := funnel.NewService(r, b, func() time.Time { return now })
	rep, err := s.Report(context.Background(), funnel.Query{EventID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.From.Equal(at(31).Add(-time.Hour)) || !rep.To.Equal(at(31)) || len(rep.Series) != 60 {
		t.Fatalf("default range = %v..%v with %d minutes, want the hour up to 10:31", rep.From, rep.To, len(rep.Series))
	}
	// 10:02 is inside 9:31..10:31 too.
	if rep.Joined != 114 || rep.Admitted != 12 || rep.Held != 6 || rep.Confirmed != 3 || rep.Abandoned != 3 {
		t.Errorf("totals = %d joined, %d admitted, %d held, %d confirmed, %d abandoned; want 114, 12, 6, 3, 3",
			rep.Joined, rep.Admitted, rep.Held, rep.Confirmed, rep.Abandoned)
	}
	if rep.AdmitRate != 0.1053 || rep.HoldRate != 0.5 || rep.ConfirmRate != 0.5 || rep.HoldExpiryRate != 0.2857 {
		t.Errorf("rates = %v %v %v %v", rep.AdmitRate, rep.HoldRate, rep.ConfirmRate, rep.HoldExpiryRate)
	}
	if *rep.QueueWaitP50 != 3*time.Second || *rep.QueueWaitP90 != 10*time.Second {
		t.Errorf("queue wait p50 %v p90 %v, want 3s and 10s", *rep.QueueWaitP50, *rep.QueueWaitP90)
	}
	// 40 seats at 2 a minute: 20 minutes.
	if rep.SeatsPerMinute != 2 || rep.SoldOutAt == nil || !rep.SoldOutAt.Equal(now.Add(20*time.Minute)) {
		t.Errorf("forecast = %v a minute, sold out at %v; want 2 and %v", rep.SeatsPerMinute, rep.SoldOutAt, now.Add(20*time.Minute))
	}
	last := rep.Series[59]
	if !last.At.Equal(at(30)) || last.Joined != 5 || last.Admitted != 4 || last.Held != 7 || last.Confirmed != 3 {
		t.Errorf("last minute = %+v", last)
	}

	// A range is widened to whole minutes; one that ends before now does
	// not leave out the admissions running now.
	rep, err = s.Report(context.Background(), funnel.Query{From: ptr(at(29).Add(10 * time.Second)), To: ptr(at(29).Add(time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	if !r.from.Equal(at(29)) || !r.to.Equal(at(30)) || rep.Joined != 10 || rep.Admitted != 8 || rep.Abandoned != 2 {
		t.Errorf("range %v..%v: joined %d, admitted %d, abandoned %d; want 10:29..10:30, 10, 8, 2",
			r.from, r.to, rep.Joined, rep.Admitted, rep.Abandoned)
	}

	for _, q := range []funnel.Query{
		{From: ptr(at(10)), To: ptr(at(10))},
		{From: ptr(at(10)), To: ptr(at(9))},
		{From: ptr(at(0)), To: ptr(at(0).Add(24*time.Hour + time.Minute))},
	} {
		if _, err := s.Report(context.Background(), q); !apperr.Is(err, apperr.ValidationFailed) {
			t.Errorf("Report(%v..%v) = %v, want Invalid", q.From, q.To, err)
		}
	}
}

// TestAdmissionToHold: the report asks the bookings about each admission
// of the range, each ending at its lapse or at its user's next admission,
// whichever comes first, and reports what they answer; without
// admissions it asks nothing and reports nulls.
func TestAdmissionToHold(t *testing.T) {
	t.Parallel()
	u1, u2, u3 := uuid.New(), uuid.New(), uuid.New()
	a := func(u uuid.UUID, m int, sec int) funnel.Admission {
		at := at(m).Add(time.Duration(sec) * time.Second)
		return funnel.Admission{UserID: u, At: at, Until: at.Add(10 * time.Minute)}
	}
	// u1 is admitted at 10:00, leaves and is admitted again at 10:02:30,
	// holding at 10:03; u2 holds 7s after its admission; u3 never holds.
	admissions := []funnel.Admission{a(u1, 0, 0), a(u2, 1, 0), a(u1, 2, 30), a(u3, 2, 40)}
	var asked []funnel.Admission
	b := bookings{asked: &asked, firstHold: map[uuid.UUID]time.Time{u1: at(3), u2: at(1).Add(7 * time.Second)}}
	s := funnel.NewService(&rooms{figs: funnel.RoomFigures{Admissions: admissions}}, b, func() time.Time { return now })
	rep, err := s.Report(context.Background(), funnel.Query{EventID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(admissions)
	want[0].Until = want[2].At
	if !slices.Equal(asked, want) {
		t.Errorf("asked about %+v, want %+v", asked, want)
	}
	// u1's hold belongs to its second admission (30s), u2's took 7s.
	if rep.AdmissionToHoldP50 == nil || *rep.AdmissionToHoldP50 != 7*time.Second || *rep.AdmissionToHoldP90 != 30*time.Second {
		t.Errorf("admission to hold p50 %v p90 %v, want 7s and 30s", rep.AdmissionToHoldP50, rep.AdmissionToHoldP90)
	}

	asked = nil
	s = funnel.NewService(&rooms{}, b, func() time.Time { return now })
	if rep, err = s.Report(context.Background(), funnel.Query{EventID: uuid.New()}); err != nil ||
		rep.AdmissionToHoldP50 != nil || rep.AdmissionToHoldP90 != nil || asked != nil {
		t.Errorf("without admissions: p50 %v p90 %v asked %v, %v; want nulls, nothing asked", rep.AdmissionToHoldP50, rep.AdmissionToHoldP90, asked, err)
	}
}
