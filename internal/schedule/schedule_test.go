package schedule_test

import (
	"testing"
	"time"

	"github.com/evently/evently/internal/schedule"
)

func TestEveryIsAlignedAcrossReplicas(t *testing.T) {
	t.Parallel()
	s, err := schedule.Parse("@every 2m")
	if err != nil {
		t.Fatal(err)
	}
	// Two replicas started at different moments fire at the same instants.
	a := time.Date(2026, 1, 1, 10, 0, 13, 0, time.UTC)
	b := time.Date(2026, 1, 1, 10, 1, 47, 0, time.UTC)
	want := time.Date(2026, 1, 1, 10, 2, 0, 0, time.UTC)
	if got := s.Next(a); !got.Equal(want) {
		t.Errorf("Next(%v) = %v, want %v", a, got, want)
	}
	if got := s.Next(b); !got.Equal(want) {
		t.Errorf("Next(%v) = %v, want %v", b, got, want)
	}
	// A firing observed a little late still names its own slot.
	late := want.Add(350 * time.Millisecond)
	if got := s.Slot(late); !got.Equal(want) {
		t.Errorf("Slot(%v) = %v, want %v", late, got, want)
	}
}

func TestCronSlotIsTheMinute(t *testing.T) {
	t.Parallel()
	s, err := schedule.Parse("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 10, 3, 0, 0, time.UTC)
	want := time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC)
	if got := s.Next(at); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	if got := s.Slot(want.Add(900 * time.Millisecond)); !got.Equal(want) {
		t.Errorf("Slot = %v, want %v", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "soon", "@every", "@every 500ms", "@every 1.5s", "@every -1m", "* * *"} {
		if _, err := schedule.Parse(spec); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", spec)
		}
	}
}
