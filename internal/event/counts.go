package event

import (
	"context"

	"github.com/google/uuid"
)

// SectionAvailability is one section's seats by what a buyer can do with
// them.
type SectionAvailability struct {
	Section  string
	Capacity int
	Availability
}

// SectionAvailability counts an event's seats per section, afresh (no
// cache): the source of the live availability stream, which reads it at
// most a few times a second per process, however many clients follow the
// event. The event's visibility is for the caller to check; an unknown
// event is NotFound.
func (s *Service) SectionAvailability(ctx context.Context, id uuid.UUID) ([]SectionAvailability, error) {
	counts, err := s.store.SectionAvailability(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(counts) == 0 {
		return nil, NotFound(id)
	}
	for i := range counts {
		c := &counts[i]
		c.Available = max(c.Capacity-c.Held-c.Booked, 0)
	}
	return counts, nil
}
