// Package seed fills an empty Evently with demonstration events: a theatre
// with numbered sections and a refund schedule, a general-admission gig, a
// 50,000-seat stadium and a couple more, all published; and a few sales of
// the theatre, some of whose tickets are checked in.
package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
)

// namespace derives the fixed ids of the demo events (UUIDv5 of their
// slugs), which is what makes seeding idempotent: a second run finds every
// id taken and creates nothing.
var namespace = uuid.MustParse("6f1c3c52-6a2e-4c1b-9a55-3f0e5d2b7a10")

// Creator is the part of the event Service seeding needs.
type Creator interface {
	CreateWithID(ctx context.Context, id uuid.UUID, in event.Input) (event.Event, error)
}

// Result counts what a run did.
type Result struct {
	Created, Existing int
}

// Events creates the demo events that do not exist yet. Their dates are
// relative to now.
func Events(ctx context.Context, events Creator, now time.Time) (Result, error) {
	var res Result
	for _, d := range demos(now) {
		id := uuid.NewSHA1(namespace, []byte(d.slug))
		_, err := events.CreateWithID(ctx, id, d.in)
		switch {
		case err == nil:
			res.Created++
		case apperr.Is(err, apperr.Conflict):
			res.Existing++
		default:
			return res, fmt.Errorf("seed %s: %w", d.slug, err)
		}
	}
	return res, nil
}

type demo struct {
	slug string
	in   event.Input
}

func demos(now time.Time) []demo {
	// Evenings a few weeks out, at a round time.
	day := now.UTC().Truncate(24 * time.Hour)
	at := func(days, hour, minute int) time.Time {
		return day.AddDate(0, 0, days).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	tp := func(t time.Time) *time.Time { return &t }
	published := event.StatusPublished
	auto := event.AdmitAuto
	numbered := func(name string, price int64, rows, perRow int) event.SectionInput {
		return event.SectionInput{Name: name, PriceCents: &price, Rows: &rows, SeatsPerRow: &perRow}
	}
	standing := func(name string, price int64, capacity int) event.SectionInput {
		return event.SectionInput{Name: name, PriceCents: &price, Capacity: &capacity}
	}
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	yes := true

	return []demo{
		{"hamlet-barbican", event.Input{
			Name:               "Hamlet",
			Description:        "The Royal Shakespeare Company's new staging of the tragedy, in three hours with one interval.",
			Venue:              "Barbican Theatre, London",
			Category:           "theatre",
			StartsAt:           at(30, 19, 30),
			EndsAt:             tp(at(30, 22, 30)),
			Currency:           str("GBP"),
			MaxSeatsPerBooking: num(6),
			Status:             &published,
			// 100% back until a week before, half until the day before.
			RefundPolicy: event.RefundPolicy{{UntilHoursBeforeStart: 168, Percent: 100}, {UntilHoursBeforeStart: 24, Percent: 50}},
			Sections: []event.SectionInput{
				numbered("Stalls", 6500, 20, 30),
				numbered("Circle", 4500, 10, 28),
				numbered("Balcony", 2500, 8, 24),
			},
		}},
		{"midnight-static-brooklyn", event.Input{
			Name:               "Midnight Static: Live",
			Description:        "The synth-pop duo's only New York show this year. Standing room only; doors at 7pm.",
			Venue:              "Brooklyn Steel, New York",
			Category:           "music",
			StartsAt:           at(21, 20, 0),
			EndsAt:             tp(at(21, 23, 0)),
			Currency:           str("USD"),
			MaxSeatsPerBooking: num(4),
			Status:             &published,
			Sections:           []event.SectionInput{standing("Floor", 3500, 1800)},
		}},
		{"cup-final-stadium", event.Input{
			Name:               "Cup Final",
			Description:        "The season's final, under the lights. A waiting room opens an hour before sales start.",
			Venue:              "Olympiastadion, Berlin",
			Category:           "sport",
			StartsAt:           at(45, 18, 0),
			EndsAt:             tp(at(45, 20, 0)),
			Currency:           str("EUR"),
			MaxSeatsPerBooking: num(4),
			HoldTTLSeconds:     num(300),
			SalesStart:         tp(at(1, 9, 0)),
			SalesEnd:           tp(at(45, 16, 0)),
			Status:             &published,
			WaitingRoom: &event.WaitingRoomInput{
				Enabled: &yes, AdmitPerMinute: num(2000), MaxActive: event.Change[int]{Set: true, Value: num(5000)},
				// The room finds its own rate between 500 and 10,000 a minute.
				AdmitMode:         &auto,
				AdmitMinPerMinute: event.Change[int]{Set: true, Value: num(500)},
				AdmitMaxPerMinute: event.Change[int]{Set: true, Value: num(10_000)},
			},
			Sections: []event.SectionInput{
				numbered("North Stand", 9000, 100, 125),
				numbered("South Stand", 9000, 100, 125),
				numbered("East Stand", 12000, 100, 125),
				numbered("West Stand", 15000, 100, 125),
			},
		}},
		{"kind-of-blue-ronnie-scotts", event.Input{
			Name:        "Kind of Blue at 65",
			Description: "A quintet plays Miles Davis's record end to end, then takes requests.",
			Venue:       "Ronnie Scott's, London",
			Category:    "music",
			StartsAt:    at(10, 20, 30),
			Currency:    str("GBP"),
			Status:      &published,
			Sections: []event.SectionInput{
				standing("Tables", 5500, 120),
				standing("Bar", 3000, 60),
			},
		}},
		{"gophercon-eu", event.Input{
			Name:               "GopherCon EU",
			Description:        "Two days of talks about Go in production, concurrency and tooling, plus a workshop day.",
			Venue:              "Festsaal Kreuzberg, Berlin",
			Category:           "conference",
			StartsAt:           at(60, 8, 30),
			EndsAt:             tp(at(62, 18, 0)),
			Currency:           str("EUR"),
			MaxSeatsPerBooking: num(10),
			SalesEnd:           tp(at(59, 23, 0)),
			Status:             &published,
			Sections: []event.SectionInput{
				standing("Conference", 45000, 900),
				standing("Workshops", 30000, 200),
			},
		}},
	}
}
