package event

import (
	"fmt"
	"time"

	"github.com/evently/evently/internal/apperr"
)

// RefundTier is one step of a refund schedule: cancelling at least
// UntilHoursBeforeStart hours before the event starts refunds Percent of
// the booking's total.
type RefundTier struct {
	UntilHoursBeforeStart int
	Percent               int
}

// RefundPolicy is an event's refund schedule: tiers in strictly decreasing
// UntilHoursBeforeStart. Cancelling refunds the percent of the first tier
// whose deadline has not passed, and nothing after the last deadline.
type RefundPolicy []RefundTier

// DefaultRefundPolicy is the schedule of an event without one: a full
// refund until the event starts (cancelling is refused once it has
// started), which is what cancelling a confirmed booking has always meant.
var DefaultRefundPolicy = RefundPolicy{{UntilHoursBeforeStart: 0, Percent: 100}}

// Limits of a refund schedule.
const (
	MaxRefundTiers = 20
	// MaxRefundHours is about three years.
	MaxRefundHours = 26_280
)

// Or is p, or the default schedule when p is nil.
func (p RefundPolicy) Or() RefundPolicy {
	if p == nil {
		return DefaultRefundPolicy
	}
	return p
}

// Validate checks the schedule: 0 to MaxRefundTiers tiers, each with 0 <=
// hours <= MaxRefundHours and 0 <= percent <= 100, in strictly decreasing
// hours. An empty schedule refunds nothing.
func (p RefundPolicy) Validate() error {
	var v apperr.Validator
	p.check(&v)
	return v.Err()
}

func (p RefundPolicy) check(v *apperr.Validator) {
	if len(p) > MaxRefundTiers {
		v.Add("refund_policy", fmt.Sprintf("must hold at most %d tiers", MaxRefundTiers))
		return
	}
	for i, t := range p {
		field := fmt.Sprintf("refund_policy[%d]", i)
		v.Check(t.UntilHoursBeforeStart >= 0 && t.UntilHoursBeforeStart <= MaxRefundHours,
			field+".until_hours_before_start", fmt.Sprintf("must be between 0 and %d", MaxRefundHours))
		v.Check(t.Percent >= 0 && t.Percent <= 100, field+".percent", "must be between 0 and 100")
		if i > 0 {
			v.Check(t.UntilHoursBeforeStart < p[i-1].UntilHoursBeforeStart, field+".until_hours_before_start",
				"must be less than the previous tier's (tiers go from the earliest deadline to the latest)")
		}
	}
}

// PercentAt is the percent refunded by cancelling at now an event that
// starts at startsAt, and until when it holds (nil: it is the last step,
// nothing changes later). A tier's deadline is startsAt minus its hours;
// cancelling at the deadline itself still gets that tier.
func (p RefundPolicy) PercentAt(startsAt, now time.Time) (percent int, until *time.Time) {
	for _, t := range p.Or() {
		deadline := startsAt.Add(-time.Duration(t.UntilHoursBeforeStart) * time.Hour)
		if !now.After(deadline) {
			return t.Percent, &deadline
		}
	}
	return 0, nil
}

// RefundCents is percent of total, rounded down to a whole minor unit.
func RefundCents(total int64, percent int) int64 {
	return total * int64(percent) / 100
}
