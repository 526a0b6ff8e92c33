package booking

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Range is a span of seat positions: a section, or a whole event.
type Range struct{ Lo, Hi int }

func (r Range) holds(pos int) bool { return pos >= r.Lo && pos <= r.Hi }

// LockedSeat is a seat the store has locked for a batch of holds, as the
// allocator sees it.
type LockedSeat struct {
	ID         uuid.UUID
	EventID    uuid.UUID
	Position   int
	SectionID  uuid.UUID
	Section    string
	Row        *string
	Number     *int
	Label      string
	PriceCents int64
	// Status is the stored state: available, held or booked.
	Status    string
	HeldUntil *time.Time
	// BookingID is the booking holding or owning the seat.
	BookingID *uuid.UUID
}

// FreeAt reports whether the seat can be held at now: available, or held
// by a hold that has lapsed (whether or not the cleanup has run).
func (s LockedSeat) FreeAt(now time.Time) bool {
	return s.Status == "available" || (s.Status == "held" && s.HeldUntil != nil && !s.HeldUntil.After(now))
}

// Allocation is what a batch of holds gets from the seats locked for it.
type Allocation struct {
	// Seats are the seats given to each hold, in position order (nil when
	// refused).
	Seats [][]LockedSeat
	// Refusals are each hold's refusal (nil when seats were given).
	Refusals []error
	// Stale are the lapsed holds whose seats are taken over: they must
	// end (expire) in the batch's transaction before their seats are held
	// again.
	Stale []uuid.UUID
	// Short are the ranges where a best-available hold found too few seats,
	// with the smallest quantity refused.
	Short map[Range]int
}

// Allocate decides, in arrival order, which seats each hold of b gets.
// Specific-seat holds get exactly their seats (looked up in specific) or
// nothing; best-available holds take free seats of pool (in position
// order) within their range: the first block of adjacent seats in one row
// when they ask for adjacency and such a block exists, else the first
// seats free. A seat goes to one hold at most. One hold's refusal never
// changes another's seats: each is decided on what the holds before it
// left. A hold that would take its buyer past b.Limit (counting what the
// buyer's earlier holds in the batch were given) is refused first.
func Allocate(b HoldBatch, specific map[uuid.UUID]LockedSeat, pool []LockedSeat) Allocation {
	a := Allocation{Seats: make([][]LockedSeat, len(b.Holds)), Refusals: make([]error, len(b.Holds))}
	taken := map[uuid.UUID]bool{}
	stale := map[uuid.UUID]bool{}
	given := map[uuid.UUID]int{}
	take := func(i int, seats []LockedSeat) {
		given[b.Holds[i].UserID] += len(seats)
		for _, s := range seats {
			taken[s.ID] = true
			if s.Status == "held" && s.BookingID != nil && !stale[*s.BookingID] {
				stale[*s.BookingID] = true
				a.Stale = append(a.Stale, *s.BookingID)
			}
		}
		a.Seats[i] = seats
	}
	for i, h := range b.Holds {
		if live := b.Limit.Live[h.UserID] + given[h.UserID]; b.Limit.Max > 0 && live+h.wants() > b.Limit.Max {
			a.Refusals[i] = PurchaseLimitReached(b.Limit.Max, live)
			continue
		}
		if len(h.SeatIDs) > 0 {
			seats, err := pickSeats(b, h, specific, taken)
			if err != nil {
				a.Refusals[i] = err
				continue
			}
			take(i, sortByPosition(seats))
			continue
		}
		seats := pickBest(b.Now, h, pool, taken)
		if seats == nil {
			a.Refusals[i] = SoldOut(h.Quantity)
			if a.Short == nil {
				a.Short = map[Range]int{}
			}
			if q, ok := a.Short[h.Range]; !ok || h.Quantity < q {
				a.Short[h.Range] = h.Quantity
			}
			continue
		}
		take(i, seats)
	}
	return a
}

// pickSeats gives a specific-seat hold its seats, or says why not.
func pickSeats(b HoldBatch, h PendingHold, specific map[uuid.UUID]LockedSeat, taken map[uuid.UUID]bool) ([]LockedSeat, error) {
	var foreign, busy []uuid.UUID
	seats := make([]LockedSeat, 0, len(h.SeatIDs))
	for _, id := range h.SeatIDs {
		s, ok := specific[id]
		switch {
		case !ok || s.EventID != b.EventID:
			foreign = append(foreign, id)
		case taken[id] || !s.FreeAt(b.Now):
			busy = append(busy, id)
		default:
			seats = append(seats, s)
		}
	}
	switch {
	case len(foreign) > 0:
		return nil, ForeignSeats(foreign)
	case len(busy) > 0:
		return nil, SeatsTaken(busy)
	}
	return seats, nil
}

// pickBest finds h.Quantity free seats of h.Range in pool (sorted by
// position): the first block of adjacent seats in one row among the first
// h.Quantity+AdjacencySlack free seats when h asks for adjacency, else the
// first seats free; nil when there are too few.
func pickBest(now time.Time, h PendingHold, pool []LockedSeat, taken map[uuid.UUID]bool) []LockedSeat {
	window := h.Quantity
	if h.Adjacent {
		window += AdjacencySlack
	}
	free := make([]LockedSeat, 0, window)
	for _, s := range pool {
		if taken[s.ID] || !h.Range.holds(s.Position) || !s.FreeAt(now) {
			continue
		}
		free = append(free, s)
		if len(free) == window {
			break
		}
	}
	if len(free) < h.Quantity {
		return nil
	}
	if h.Adjacent {
		start := 0
		for i := 1; i <= len(free); i++ {
			if i == len(free) || !adjacent(free[i-1], free[i]) {
				if i-start >= h.Quantity {
					return free[start : start+h.Quantity]
				}
				start = i
			}
		}
	}
	// No block of adjacent seats: the first seats free.
	return free[:h.Quantity]
}

// AdjacencySlack is how many free seats beyond the quantity a
// best-available hold considers when looking for an adjacent block.
const AdjacencySlack = 8

// adjacent reports whether b is the seat right after a in one row.
func adjacent(a, b LockedSeat) bool {
	return b.Position == a.Position+1 && a.SectionID == b.SectionID && a.Row != nil && b.Row != nil && *a.Row == *b.Row
}

func sortByPosition(seats []LockedSeat) []LockedSeat {
	slices.SortFunc(seats, func(a, b LockedSeat) int { return a.Position - b.Position })
	return seats
}
