// Package analytics reports what admins read about sales: a summary over
// the published events, the most popular events, activity per calendar day
// of any time zone, and one event's figures. Every figure is exact: the
// Store computes it from the booking records (or from rollups that move in
// the same transaction as them); the Service only caches a result for a
// few seconds.
//
// The definitions (API.md, "Analytics"):
//   - bookings_confirmed: bookings whose status is confirmed now;
//     tickets_sold their seats; revenue the sum of their total_cents, per
//     currency.
//   - bookings_cancelled: bookings cancelled after having been confirmed
//     (a hold released or lapsed unconfirmed counts nowhere).
//   - cancellation_rate = cancelled / (confirmed + cancelled), 0 when both
//     are 0; utilization = booked seats / capacity.
//   - A day's row: confirmations that day, cancellations (of confirmed
//     bookings) that day, and seats and money confirmed that day minus
//     those cancelled that day, so that the rows add up to the summary.
package analytics

import (
	"time"

	"github.com/google/uuid"
)

// Money is an amount in minor units of one currency.
type Money struct {
	Currency string
	Cents    int64
}

// Window selects the published events whose start is in [From, To); a nil
// bound is open.
type Window struct {
	From *time.Time
	To   *time.Time
}

// Summary is the sales of the published events of a Window.
type Summary struct {
	EventsPublished     int64
	CapacityTotal       int64
	TicketsSold         int64
	BookingsConfirmed   int64
	BookingsCancelled   int64
	CancellationRate    float64
	CapacityUtilization float64
	// Revenue has one entry per currency of the bookings confirmed now,
	// sorted by currency.
	Revenue []Money
	AsOf    time.Time
}

// PopularBy is what popular events are ranked by.
type PopularBy string

// Rankings of popular events (each breaks ties by tickets sold, then by
// event id).
const (
	ByTickets     PopularBy = "tickets"
	ByRevenue     PopularBy = "revenue"
	ByUtilization PopularBy = "utilization"
)

// Popular list limits.
const (
	DefaultPopularLimit = 20
	MaxPopularLimit     = 100
)

// PopularQuery asks for the top published events.
type PopularQuery struct {
	By    PopularBy
	Limit int
	// Window restricts the events by start time.
	Window Window
	// Currency, when set, keeps only the events priced in it (so that a
	// ranking by revenue compares like with like).
	Currency string
}

// EventSales is one event's sales.
type EventSales struct {
	EventID           uuid.UUID
	Name              string
	Currency          string
	Capacity          int64
	TicketsSold       int64
	RevenueCents      int64
	BookingsConfirmed int64
	BookingsCancelled int64
}

// Utilization is the share of the event's seats that are booked: the
// seats of its bookings confirmed now over its capacity (the same figure
// in every report).
func (e EventSales) Utilization() float64 { return ratio(e.TicketsSold, e.Capacity) }

// Popular is a ranking of events.
type Popular struct {
	Events []EventSales
	AsOf   time.Time
}

// Day is one calendar day's sales activity.
type Day struct {
	// Date is the day (midnight UTC of that date; the day itself is in the
	// report's zone).
	Date              time.Time
	BookingsConfirmed int64
	TicketsSold       int64
	BookingsCancelled int64
	// Revenue has an entry for each currency with activity that day (net
	// of that day's cancellations, so possibly zero or negative).
	Revenue []Money
}

// Daily is a run of consecutive days.
type Daily struct {
	Location *time.Location
	Days     []Day
	AsOf     time.Time
}

// Activity is what the Store reports for one day (the index of its start
// in the bounds given) and one currency: confirmations and cancellations of
// confirmed bookings, with their seats and totals.
type Activity struct {
	Day            int
	Currency       string
	Confirmed      int64
	ConfirmedSeats int64
	ConfirmedCents int64
	Cancelled      int64
	CancelledSeats int64
	CancelledCents int64
}

// Totals is what the Store reports for the events of a window: their
// number and capacity, and their sales per currency.
type Totals struct {
	Events     int64
	Capacity   int64
	ByCurrency []CurrencyTotals
}

// CurrencyTotals are the sales of a set of events in one currency.
type CurrencyTotals struct {
	Currency          string
	BookingsConfirmed int64
	TicketsSold       int64
	RevenueCents      int64
	BookingsCancelled int64
}

// EventFacts is what the Store reports about one event.
type EventFacts struct {
	EventSales
	// Held and Booked count the event's seats as buyers see them (a lapsed
	// hold is available).
	Held   int64
	Booked int64
	// SalesByDay are the bookings still confirmed, by UTC day of
	// confirmation, oldest first.
	SalesByDay []DaySales
}

// DaySales are the bookings still confirmed that were confirmed on one day.
type DaySales struct {
	Date              time.Time
	BookingsConfirmed int64
	TicketsSold       int64
	RevenueCents      int64
}

// EventReport is one event's analytics.
type EventReport struct {
	EventSales
	Available        int64
	Held             int64
	Booked           int64
	CancellationRate float64
	// WaitlistWaiting counts the entries of the event's waitlist still
	// waiting for an offer.
	WaitlistWaiting int64
	SalesByDay      []DaySales
	AsOf            time.Time
}

// CancellationRate is cancelled / (confirmed + cancelled), 0 when both are 0.
func CancellationRate(confirmed, cancelled int64) float64 {
	return ratio(cancelled, confirmed+cancelled)
}

// ratio is n/d, 0 when d is 0, and kept within [0, 1].
func ratio(n, d int64) float64 {
	if d <= 0 || n <= 0 {
		return 0
	}
	if n >= d {
		return 1
	}
	return float64(n) / float64(d)
}
