package event

import "time"

// SaleState is where an event's sale stands at a moment: the one answer
// to "can this event be booked, queued for or waitlisted now", which the
// booking engine, the waitlist and the waiting room all ask.
type SaleState int

const (
	// SaleOpen: seats can be sold.
	SaleOpen SaleState = iota
	// SaleUnpublished: a draft; buyers do not see it.
	SaleUnpublished
	// SaleCancelled: the organiser cancelled the event.
	SaleCancelled
	// SaleStarted: the event has started.
	SaleStarted
	// SaleNotYetOpen: before sales_start.
	SaleNotYetOpen
	// SaleEnded: from sales_end on.
	SaleEnded
)

// Reason is the state's message to a buyer ("" for SaleOpen).
func (s SaleState) Reason() string {
	switch s {
	case SaleUnpublished:
		return "The event is not on sale."
	case SaleCancelled:
		return "The event is cancelled."
	case SaleStarted:
		return "The event has started."
	case SaleNotYetOpen:
		return "Sales have not opened yet."
	case SaleEnded:
		return "Sales have closed."
	}
	return ""
}

// String names the state as the database's sale_state() does.
func (s SaleState) String() string {
	switch s {
	case SaleOpen:
		return "open"
	case SaleUnpublished:
		return "unpublished"
	case SaleCancelled:
		return "cancelled"
	case SaleStarted:
		return "started"
	case SaleNotYetOpen:
		return "not_yet_open"
	case SaleEnded:
		return "ended"
	}
	return "unknown"
}

// Over reports whether the sale can never open again (short of an
// organiser's edit): anything but open or not yet open.
func (s SaleState) Over() bool { return s != SaleOpen && s != SaleNotYetOpen }

// SaleWindow is what decides an event's sale state: its status, its start
// and its sales window.
type SaleWindow struct {
	Status     Status
	StartsAt   time.Time
	SalesStart *time.Time
	SalesEnd   *time.Time
}

// Window is the event's sale window.
func (e Event) Window() SaleWindow {
	return SaleWindow{Status: e.Status, StartsAt: e.StartsAt, SalesStart: e.SalesStart, SalesEnd: e.SalesEnd}
}

// At is the sale's state at now. A cancelled event is cancelled whatever
// its dates; a started event is started whatever its sales window.
func (w SaleWindow) At(now time.Time) SaleState {
	switch {
	case w.Status == StatusCancelled:
		return SaleCancelled
	case w.Status != StatusPublished:
		return SaleUnpublished
	case !now.Before(w.StartsAt):
		return SaleStarted
	case w.SalesStart != nil && now.Before(*w.SalesStart):
		return SaleNotYetOpen
	case w.SalesEnd != nil && !now.Before(*w.SalesEnd):
		return SaleEnded
	}
	return SaleOpen
}
