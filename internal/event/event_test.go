package event

import (
	"slices"
	"testing"
	"time"

	"github.com/evently/evently/internal/apperr"
)

func TestRowLabel(t *testing.T) {
	t.Parallel()
	for i, want := range map[int]string{0: "A", 1: "B", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA", 99_999: "EQXD"} {
		if got := RowLabel(i); got != want {
			t.Errorf("RowLabel(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestSeatLabel(t *testing.T) {
	t.Parallel()
	balcony := Section{Name: "Balcony", Rows: 30, SeatsPerRow: 20, Capacity: 600}
	floor := Section{Name: "Floor", Capacity: 100_000}
	for _, tt := range []struct {
		s    Section
		i    int
		want string
	}{
		{balcony, 0, "Balcony-A-1"}, {balcony, 51, "Balcony-C-12"}, {balcony, 599, "Balcony-AD-20"},
		{floor, 41, "Floor-00042"}, {floor, 99_998, "Floor-99999"}, {floor, 99_999, "Floor-100000"},
	} {
		if got := tt.s.SeatLabel(tt.i); got != tt.want {
			t.Errorf("%s.SeatLabel(%d) = %q, want %q", tt.s.Name, tt.i, got, tt.want)
		}
	}
}

func TestNormalizeTerms(t *testing.T) {
	t.Parallel()
	for q, want := range map[string][]string{
		"":                      nil,
		"  Jazz  London ":       {"jazz", "london"},
		"rock'n'roll & (blues)": {"rock", "n", "roll", "blues"},
		"':* | !":               nil,
		"Göteborg 2027":         {"göteborg", "2027"},
		"a b c d e f g h i j":   {"a", "b", "c", "d", "e", "f", "g", "h"},
	} {
		if got := normalizeTerms(q); !slices.Equal(got, want) {
			t.Errorf("normalizeTerms(%q) = %q, want %q", q, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestInputBuildFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	valid := func() Input {
		return Input{
			Name: "Hamlet", Venue: "Barbican", StartsAt: now.Add(time.Hour),
			Sections: []SectionInput{{Name: "Stalls", PriceCents: ptr[int64](100), Rows: ptr(2), SeatsPerRow: ptr(3)}},
		}
	}
	e, err := valid().build(now, 600)
	if err != nil {
		t.Fatalf("build(valid) = %v", err)
	}
	if e.Capacity() != 6 || e.Sections[0].Position != 1 || e.Sections[0].FirstSeat != 0 || e.Currency != "USD" || e.Status != StatusDraft {
		t.Errorf("build(valid) = %+v", e)
	}
	tests := []struct {
		name   string
		mod    func(*Input)
		fields []string
	}{
		{"starts now", func(in *Input) { in.StartsAt = now }, []string{"starts_at"}},
		{"second section laid after the first", func(in *Input) {
			in.Sections = append(in.Sections, SectionInput{Name: "Floor", PriceCents: ptr[int64](0), Capacity: ptr(4)})
		}, nil},
		{"bad sections are skipped in the layout", func(in *Input) {
			in.Sections = append([]SectionInput{{Name: "Bad", Capacity: ptr(4)}}, in.Sections...)
		}, []string{"sections[0].price_cents"}},
		{"max_active cleared", func(in *Input) {
			in.WaitingRoom = &WaitingRoomInput{MaxActive: Change[int]{Set: true}}
		}, nil},
	}
	for _, tt := range tests {
		in := valid()
		tt.mod(&in)
		_, err := in.build(now, 600)
		var got []string
		if ae, ok := err.(*apperr.Error); ok {
			for _, f := range ae.Fields {
				got = append(got, f.Field)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%s: invalid fields %v, want %v", tt.name, got, tt.fields)
		}
	}

	in := valid()
	in.Sections = append(in.Sections, SectionInput{Name: "Floor", PriceCents: ptr[int64](0), Capacity: ptr(4)})
	e, _ = in.build(now, 600)
	if s := e.Sections[1]; s.Position != 2 || s.FirstSeat != 6 || s.LastSeat() != 10 {
		t.Errorf("second section layout = %+v", s)
	}
}

func TestPatchApplyChecksTheResult(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	e := Event{Name: "Hamlet", Venue: "Barbican", StartsAt: now.Add(48 * time.Hour), Currency: "USD"}
	end := now.Add(24 * time.Hour)
	if err := (Patch{EndsAt: Change[time.Time]{Set: true, Value: &end}}).apply(&e, now); !apperr.Is(err, apperr.ValidationFailed) {
		t.Errorf("ends_at before the stored starts_at: %v", err)
	}
	// A past start is fine when the patch leaves it alone.
	past := Event{Name: "Old", Venue: "Hall", StartsAt: now.Add(-time.Hour)}
	if err := (Patch{Name: ptr("Older")}).apply(&past, now); err != nil || past.Name != "Older" {
		t.Errorf("renaming a past event: %v", err)
	}
}
