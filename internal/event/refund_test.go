package event_test

import (
	"testing"
	"time"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

func TestRefundPolicyValidate(t *testing.T) {
	t.Parallel()
	tier := func(h, p int) event.RefundTier { return event.RefundTier{UntilHoursBeforeStart: h, Percent: p} }
	tooMany := make(event.RefundPolicy, event.MaxRefundTiers+1)
	for i := range tooMany {
		tooMany[i] = tier(len(tooMany)-i, 10)
	}
	cases := []struct {
		name   string
		p      event.RefundPolicy
		fields []string
	}{
		{"default", event.DefaultRefundPolicy, nil},
		{"none", event.RefundPolicy{}, nil},
		{"schedule", event.RefundPolicy{tier(168, 100), tier(24, 50), tier(0, 10)}, nil},
		{"percent over 100", event.RefundPolicy{tier(24, 101)}, []string{"refund_policy[0].percent"}},
		{"negative percent", event.RefundPolicy{tier(24, -1)}, []string{"refund_policy[0].percent"}},
		{"negative hours", event.RefundPolicy{tier(-1, 50)}, []string{"refund_policy[0].until_hours_before_start"}},
		{"same hours twice", event.RefundPolicy{tier(24, 100), tier(24, 50)}, []string{"refund_policy[1].until_hours_before_start"}},
		{"increasing hours", event.RefundPolicy{tier(24, 50), tier(168, 100)}, []string{"refund_policy[1].until_hours_before_start"}},
		{"too many", tooMany, []string{"refund_policy"}},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if c.fields == nil {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", c.name, err)
			}
			continue
		}
		var ae *apperr.Error
		if !apperr.Is(err, apperr.ValidationFailed) {
			t.Errorf("%s: Validate() = %v, want validation_failed", c.name, err)
			continue
		}
		ae = err.(*apperr.Error)
		if len(ae.Fields) != len(c.fields) || ae.Fields[0].Field != c.fields[0] {
			t.Errorf("%s: fields = %+v, want %v", c.name, ae.Fields, c.fields)
		}
	}
}

func TestRefundPolicyPercentAt(t *testing.T) {
	t.Parallel()
	start := time.Date(2027, 3, 14, 19, 30, 0, 0, time.UTC)
	p := event.RefundPolicy{{UntilHoursBeforeStart: 168, Percent: 100}, {UntilHoursBeforeStart: 24, Percent: 50}}
	cases := []struct {
		now     time.Time
		percent int
		until   *time.Time
	}{
		{start.Add(-200 * time.Hour), 100, timePtr(start.Add(-168 * time.Hour))},
		{start.Add(-168 * time.Hour), 100, timePtr(start.Add(-168 * time.Hour))}, // the deadline itself
		{start.Add(-168*time.Hour + time.Nanosecond), 50, timePtr(start.Add(-24 * time.Hour))},
		{start.Add(-24 * time.Hour), 50, timePtr(start.Add(-24 * time.Hour))},
		{start.Add(-24*time.Hour + time.Second), 0, nil},
		{start.Add(time.Hour), 0, nil},
	}
	for _, c := range cases {
		percent, until := p.PercentAt(start, c.now)
		if percent != c.percent || (until == nil) != (c.until == nil) || (until != nil && !until.Equal(*c.until)) {
			t.Errorf("PercentAt(%v before start) = %d, %v; want %d, %v", start.Sub(c.now), percent, until, c.percent, c.until)
		}
	}
	if pc, _ := event.RefundPolicy(nil).PercentAt(start, start.Add(-time.Minute)); pc != 100 {
		t.Errorf("default PercentAt(a minute before) = %d, want 100", pc)
	}
	if pc, _ := (event.RefundPolicy{}).PercentAt(start, start.Add(-1000*time.Hour)); pc != 0 {
		t.Errorf("empty schedule PercentAt = %d, want 0", pc)
	}
	if got := event.RefundCents(3333, 50); got != 1666 {
		t.Errorf("RefundCents(3333, 50) = %d, want 1666 (rounded down)", got)
	}
}

func timePtr(t time.Time) *time.Time { return &t }
