// Package schedule parses the cron specs of Evently's periodic jobs into
// schedules whose activations fall on the same wall-clock instants in every
// replica, so that each activation ("slot") can be de-duplicated across
// replicas by name.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a cron schedule that can also name the slot an instant falls in.
type Schedule interface {
	cron.Schedule
	// Slot returns the activation at or before t: the same value for every
	// replica that fires for that activation.
	Slot(t time.Time) time.Time
}

// Parse accepts "@every <duration>" (at least one second) and standard
// five-field cron specs or descriptors such as "@hourly".
//
// Unlike robfig/cron's own "@every", which counts from the moment the
// scheduler started, "@every d" here is aligned to multiples of d since the
// Unix epoch, so that replicas started at different times fire together.
func Parse(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("bad @every duration: %w", err)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, errors.New("@every needs a whole number of seconds, at least 1s")
		}
		return every(d), nil
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	return minuteCron{s}, nil
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(e)).Add(time.Duration(e))
}

func (e every) Slot(t time.Time) time.Time { return t.Truncate(time.Duration(e)) }

// minuteCron wraps a standard cron schedule, whose activations fall on whole
// minutes.
type minuteCron struct{ cron.Schedule }

func (m minuteCron) Slot(t time.Time) time.Time { return t.Truncate(time.Minute) }
