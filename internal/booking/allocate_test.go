package booking

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// venue is an event of numbered rows of seats (positions 1..rows*perRow,
// row-major), all available unless changed.
type venue struct {
	event uuid.UUID
	seats []LockedSeat
}

func newVenue(rows, perRow int) *venue {
	v := &venue{event: uuid.New()}
	sec := uuid.New()
	for r := range rows {
		row := string(rune('A' + r))
		for n := 1; n <= perRow; n++ {
			num := n
			v.seats = append(v.seats, LockedSeat{ID: uuid.New(), EventID: v.event, Position: r*perRow + n,
				SectionID: sec, Section: "Stalls", Row: &row, Number: &num, Label: fmt.Sprintf("%s%d", row, n),
				PriceCents: 100, Status: "available"})
		}
	}
	return v
}

func (v *venue) byID() map[uuid.UUID]LockedSeat {
	m := map[uuid.UUID]LockedSeat{}
	for _, s := range v.seats {
		m[s.ID] = s
	}
	return m
}

func positions(seats []LockedSeat) []int {
	out := make([]int, len(seats))
	for i, s := range seats {
		out[i] = s.Position
	}
	return out
}

func TestAllocateArrivalOrderAndIsolation(t *testing.T) {
	t.Parallel()
	v := newVenue(1, 10)
	now := time.Now()
	all := Range{1, 10}
	b := HoldBatch{EventID: v.event, Now: now, Holds: []PendingHold{
		{Quantity: 4, Range: all},
		{SeatIDs: []uuid.UUID{v.seats[2].ID}}, // taken by the first hold
		{Quantity: 7, Range: all},             // only 6 left
		{Quantity: 6, Range: all},             // fits
		{SeatIDs: []uuid.UUID{uuid.New()}},    // not a seat of the event
		{Quantity: 1, Range: all},             // nothing left
	}}
	a := Allocate(b, v.byID(), v.seats)
	if got := positions(a.Seats[0]); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("hold 0 got %v, want the first four", got)
	}
	if !apperr.Is(a.Refusals[1], apperr.SeatUnavailable) {
		t.Errorf("hold 1 = %v, want seat_unavailable", a.Refusals[1])
	}
	if !apperr.Is(a.Refusals[2], apperr.SoldOut) {
		t.Errorf("hold 2 = %v, want sold_out", a.Refusals[2])
	}
	if got := positions(a.Seats[3]); fmt.Sprint(got) != "[5 6 7 8 9 10]" {
		t.Errorf("hold 3 got %v: a refusal before it must not change its seats", got)
	}
	if !apperr.Is(a.Refusals[4], apperr.ValidationFailed) {
		t.Errorf("hold 4 = %v, want validation_failed", a.Refusals[4])
	}
	if !apperr.Is(a.Refusals[5], apperr.SoldOut) || a.Short[all] != 1 {
		t.Errorf("hold 5 = %v, short = %v; want sold_out and the range short of 1", a.Refusals[5], a.Short)
	}
}

func TestAllocatePrefersAdjacentBlocks(t *testing.T) {
	t.Parallel()
	v := newVenue(3, 4) // A1-A4 (1-4), B1-B4 (5-8), C1-C4 (9-12)
	for _, p := range []int{2, 6} {
		v.seats[p-1].Status = "booked"
	}
	b := HoldBatch{EventID: v.event, Now: time.Now(), Holds: []PendingHold{
		{Quantity: 3, Range: Range{1, 12}, Adjacent: true},
		{Quantity: 2, Range: Range{1, 12}, Adjacent: true},
		{Quantity: 2, Range: Range{1, 12}, Adjacent: false},
	}}
	a := Allocate(b, nil, v.seats)
	if got := positions(a.Seats[0]); fmt.Sprint(got) != "[9 10 11]" {
		t.Errorf("3 adjacent = %v, want C1-C3 (A and B are broken)", got)
	}
	if got := positions(a.Seats[1]); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("2 adjacent = %v, want A3-A4", got)
	}
	if got := positions(a.Seats[2]); fmt.Sprint(got) != "[1 5]" {
		t.Errorf("2 anywhere = %v, want the first two free (A1, B1)", got)
	}
	// A block never spans two rows.
	w := newVenue(2, 2)
	a = Allocate(HoldBatch{EventID: w.event, Now: time.Now(), Holds: []PendingHold{
		{Quantity: 1, Range: Range{1, 4}, Adjacent: true},
		{Quantity: 2, Range: Range{1, 4}, Adjacent: true},
	}}, nil, w.seats)
	if got := positions(a.Seats[1]); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("after A1 is taken, 2 adjacent = %v, want B1-B2 (not A2+B1)", got)
	}
}

func TestAllocateTakesOverLapsedHolds(t *testing.T) {
	t.Parallel()
	v := newVenue(1, 3)
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Minute)
	lapsedBy, liveBy := uuid.New(), uuid.New()
	v.seats[0].Status, v.seats[0].HeldUntil, v.seats[0].BookingID = "held", &past, &lapsedBy
	v.seats[1].Status, v.seats[1].HeldUntil, v.seats[1].BookingID = "held", &future, &liveBy
	b := HoldBatch{EventID: v.event, Now: now, Holds: []PendingHold{
		{SeatIDs: []uuid.UUID{v.seats[1].ID}},
		{SeatIDs: []uuid.UUID{v.seats[0].ID, v.seats[2].ID}},
	}}
	a := Allocate(b, v.byID(), nil)
	if !apperr.Is(a.Refusals[0], apperr.SeatUnavailable) {
		t.Errorf("a live hold's seat = %v, want seat_unavailable", a.Refusals[0])
	}
	if a.Refusals[1] != nil || len(a.Stale) != 1 || a.Stale[0] != lapsedBy {
		t.Errorf("lapsed seat: refusal %v, stale %v; want held and %s to end", a.Refusals[1], a.Stale, lapsedBy)
	}
}

// TestAllocateNeverGivesASeatTwice throws random batches at random venues:
// no seat goes to two holds, every seat given is free and in range, each
// hold gets exactly what it asked for or a refusal, and best-available
// holds are refused only when too few seats were left for them.
func TestAllocateNeverGivesASeatTwice(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		v := newVenue(1+rng.IntN(5), 1+rng.IntN(12))
		now := time.Now()
		for i := range v.seats {
			if rng.IntN(4) == 0 {
				v.seats[i].Status = "booked"
			}
		}
		n := len(v.seats)
		var holds []PendingHold
		for range 1 + rng.IntN(20) {
			if rng.IntN(3) == 0 {
				var ids []uuid.UUID
				for _, j := range rng.Perm(n)[:1+rng.IntN(min(3, n))] {
					ids = append(ids, v.seats[j].ID)
				}
				holds = append(holds, PendingHold{SeatIDs: ids})
				continue
			}
			lo := 1 + rng.IntN(n)
			holds = append(holds, PendingHold{Quantity: 1 + rng.IntN(4), Range: Range{lo, lo + rng.IntN(n)}, Adjacent: rng.IntN(2) == 0})
		}
		a := Allocate(HoldBatch{EventID: v.event, Now: now, Holds: holds}, v.byID(), v.seats)
		given := map[uuid.UUID]int{}
		for i, h := range holds {
			if (a.Refusals[i] == nil) == (a.Seats[i] == nil) {
				t.Fatalf("round %d hold %d: seats %v and refusal %v", round, i, a.Seats[i], a.Refusals[i])
			}
			if a.Refusals[i] != nil {
				if len(h.SeatIDs) == 0 {
					free := 0
					for _, s := range v.seats {
						if _, gone := given[s.ID]; !gone && s.FreeAt(now) && h.Range.holds(s.Position) {
							free++
						}
					}
					if free >= h.Quantity {
						t.Fatalf("round %d hold %d refused %v with %d free seats in range", round, i, a.Refusals[i], free)
					}
				}
				continue
			}
			want := h.Quantity
			if len(h.SeatIDs) > 0 {
				want = len(h.SeatIDs)
			}
			if len(a.Seats[i]) != want {
				t.Fatalf("round %d hold %d got %d seats, want %d", round, i, len(a.Seats[i]), want)
			}
			for _, s := range a.Seats[i] {
				if prev, ok := given[s.ID]; ok {
					t.Fatalf("round %d: seat %d given to holds %d and %d", round, s.Position, prev, i)
				}
				given[s.ID] = i
				if !s.FreeAt(now) || (len(h.SeatIDs) == 0 && !h.Range.holds(s.Position)) {
					t.Fatalf("round %d hold %d got seat %d (%s) outside its range %v", round, i, s.Position, s.Status, h.Range)
				}
			}
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Now()
	user, other := uuid.New(), uuid.New()
	pending := func(expires time.Time, fenced int) BookingState {
		return BookingState{Found: true, Booking: Booking{UserID: user, Status: StatusPending, Quantity: 2, ExpiresAt: expires},
			StartsAt: now.Add(24 * time.Hour), Fenced: fenced}
	}
	with := func(st BookingState, f func(*BookingState)) BookingState { f(&st); return st }
	live := pending(now.Add(time.Minute), 2)
	tests := []struct {
		name    string
		change  Change
		state   BookingState
		verdict Verdict
		code    apperr.Code
	}{
		{"confirm live hold", Change{Kind: Confirm, Owner: &user}, live, DoConfirm, ""},
		{"confirm someone else's", Change{Kind: Confirm, Owner: &other}, live, Leave, apperr.NotFound},
		{"confirm as admin", Change{Kind: Confirm}, live, Leave, apperr.NotFound},
		{"confirm missing", Change{Kind: Confirm, Owner: &user}, BookingState{}, Leave, apperr.NotFound},
		{"confirm lapsed", Change{Kind: Confirm, Owner: &user}, pending(now, 2), DoExpire, apperr.HoldExpired},
		{"confirm seat taken over", Change{Kind: Confirm, Owner: &user}, pending(now.Add(time.Minute), 1), DoExpire, apperr.HoldExpired},
		{"confirm twice", Change{Kind: Confirm, Owner: &user}, with(live, func(s *BookingState) { s.Booking.Status = StatusConfirmed }), Leave, ""},
		{"confirm cancelled", Change{Kind: Confirm, Owner: &user}, with(live, func(s *BookingState) { s.Booking.Status = StatusCancelled }), Leave, apperr.InvalidState},
		{"confirm expired", Change{Kind: Confirm, Owner: &user}, with(live, func(s *BookingState) { s.Booking.Status = StatusExpired }), Leave, apperr.HoldExpired},
		{"cancel live hold", Change{Kind: Cancel, Owner: &user}, live, DoCancel, ""},
		{"admin cancels", Change{Kind: Cancel}, live, DoCancel, ""},
		{"cancel someone else's", Change{Kind: Cancel, Owner: &other}, live, Leave, apperr.NotFound},
		{"cancel confirmed", Change{Kind: Cancel, Owner: &user}, with(live, func(s *BookingState) { s.Booking.Status = StatusConfirmed }), DoCancel, ""},
		{"decline confirmed", Change{Kind: Cancel, Owner: &user, PendingOnly: true}, with(live, func(s *BookingState) { s.Booking.Status = StatusConfirmed }), Leave, apperr.InvalidState},
		{"cancel twice", Change{Kind: Cancel, Owner: &user}, with(live, func(s *BookingState) { s.Booking.Status = StatusCancelled }), Leave, apperr.InvalidState},
		{"cancel lapsed", Change{Kind: Cancel, Owner: &user}, pending(now.Add(-time.Second), 2), DoExpire, apperr.InvalidState},
		{"cancel after the start", Change{Kind: Cancel, Owner: &user}, with(live, func(s *BookingState) { s.StartsAt = now }), Leave, apperr.InvalidState},
	}
	for _, tt := range tests {
		v, err := Decide(tt.change, tt.state, now)
		if v != tt.verdict || (tt.code == "") != (err == nil) || (err != nil && !apperr.Is(err, tt.code)) {
			t.Errorf("%s: Decide() = %v, %v; want %v, %q", tt.name, v, err, tt.verdict, tt.code)
		}
	}
}

// TestAllocatePurchaseLimit: a buyer's holds in one batch are counted
// against the limit in arrival order, on top of their live seats; a hold
// refused for another reason takes nothing from the allowance, and other
// buyers are not affected.
func TestAllocatePurchaseLimit(t *testing.T) {
	t.Parallel()
	v := newVenue(1, 10)
	all := Range{1, 10}
	ann, bob := uuid.New(), uuid.New()
	b := HoldBatch{EventID: v.event, Now: time.Now(), Holds: []PendingHold{
		{UserID: ann, Quantity: 2, Range: all},                            // 1 live + 2 = 3
		{UserID: ann, SeatIDs: []uuid.UUID{v.seats[0].ID}},                // taken by the first: refused, counts nothing
		{UserID: ann, Quantity: 2, Range: all},                            // 3 + 2 > 4: refused
		{UserID: bob, Quantity: 4, Range: all},                            // bob has his own allowance
		{UserID: ann, Quantity: 1, Range: all},                            // 3 + 1 = 4: given
		{UserID: ann, SeatIDs: []uuid.UUID{v.seats[9].ID, v.seats[8].ID}}, // 4 + 2 > 4: refused before the seats are looked at
	}, Limit: PurchaseLimit{Max: 4, Live: map[uuid.UUID]int{ann: 1}}}
	a := Allocate(b, v.byID(), v.seats)
	want := []apperr.Code{"", apperr.SeatUnavailable, apperr.PurchaseLimitReached, "", "", apperr.PurchaseLimitReached}
	for i, code := range want {
		got := apperr.Code("")
		if a.Refusals[i] != nil {
			got = apperr.CodeOf(a.Refusals[i])
		}
		if got != code {
			t.Errorf("hold %d: refusal %v, want %q", i, a.Refusals[i], code)
		}
	}
	if n := len(a.Seats[0]) + len(a.Seats[4]); n != 3 {
		t.Errorf("ann was given %d seats, want 3 (4 with the live one)", n)
	}
	if len(a.Seats[3]) != 4 {
		t.Errorf("bob was given %v, want 4 seats", positions(a.Seats[3]))
	}
	// No limit: nothing refused for it.
	b.Limit = PurchaseLimit{}
	for i, err := range Allocate(b, v.byID(), v.seats).Refusals {
		if apperr.Is(err, apperr.PurchaseLimitReached) {
			t.Errorf("hold %d refused %v with no limit", i, err)
		}
	}
}
