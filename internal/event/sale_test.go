package event

import (
	"testing"
	"time"
)

func TestSaleWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	starts := now.Add(48 * time.Hour)
	cases := []struct {
		name string
		w    SaleWindow
		want SaleState
	}{
		{"published, no window", SaleWindow{Status: StatusPublished, StartsAt: starts}, SaleOpen},
		{"inside the window", SaleWindow{Status: StatusPublished, StartsAt: starts, SalesStart: at(-time.Hour), SalesEnd: at(time.Hour)}, SaleOpen},
		{"sales start now", SaleWindow{Status: StatusPublished, StartsAt: starts, SalesStart: at(0)}, SaleOpen},
		{"before sales start", SaleWindow{Status: StatusPublished, StartsAt: starts, SalesStart: at(time.Nanosecond)}, SaleNotYetOpen},
		{"sales end now", SaleWindow{Status: StatusPublished, StartsAt: starts, SalesEnd: at(0)}, SaleEnded},
		{"started now", SaleWindow{Status: StatusPublished, StartsAt: now}, SaleStarted},
		{"started, window still open", SaleWindow{Status: StatusPublished, StartsAt: now.Add(-time.Minute), SalesEnd: at(time.Hour)}, SaleStarted},
		{"draft", SaleWindow{Status: StatusDraft, StartsAt: starts}, SaleUnpublished},
		{"cancelled, whatever the dates", SaleWindow{Status: StatusCancelled, StartsAt: now.Add(-time.Hour)}, SaleCancelled},
	}
	for _, c := range cases {
		if got := c.w.At(now); got != c.want {
			t.Errorf("%s: At = %v, want %v", c.name, got, c.want)
		}
	}
	for st := SaleOpen; st <= SaleEnded; st++ {
		if (st == SaleOpen) != (st.Reason() == "") {
			t.Errorf("state %d: reason %q", st, st.Reason())
		}
		if st.Over() != (st != SaleOpen && st != SaleNotYetOpen) {
			t.Errorf("state %d: Over = %v", st, st.Over())
		}
	}
}
