package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSeats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Balcony: 30 rows (A..Z, AA..AD) of 20; Floor: 100 general admission.
	e := f.publish(t)

	all, pages := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?limit=1000", "")
	if len(all) != 700 || pages != 1 {
		t.Fatalf("all seats: %d in %d pages, want 700 in 1", len(all), pages)
	}
	seen := map[string]bool{}
	for i, s := range all {
		if seen[s.ID] {
			t.Errorf("seat id %s twice", s.ID)
		}
		seen[s.ID] = true
		if s.Status != "available" {
			t.Errorf("seat %s: status %q", s.Label, s.Status)
		}
		if i < 600 {
			row, number := rowLabel(i/20), i%20+1
			want := fmt.Sprintf("Balcony-%s-%d", row, number)
			if s.Label != want || s.Section != "Balcony" || s.Row == nil || *s.Row != row ||
				s.Number == nil || *s.Number != number || s.PriceCents != 3500 {
				t.Errorf("seat %d = %+v, want %s", i, s, want)
			}
		} else {
			want := fmt.Sprintf("Floor-%05d", i-599)
			if s.Label != want || s.Section != "Floor" || s.Row != nil || s.Number != nil || s.PriceCents != 4500 {
				t.Errorf("seat %d = %+v, want %s", i, s, want)
			}
		}
	}
	for i, want := range map[int]string{0: "Balcony-A-1", 51: "Balcony-C-12", 519: "Balcony-Z-20", 520: "Balcony-AA-1", 599: "Balcony-AD-20", 641: "Floor-00042", 699: "Floor-00100"} {
		if all[i].Label != want {
			t.Errorf("seat %d label %q, want %q", i, all[i].Label, want)
		}
	}

	// Pagination: 700 seats by 64, in order, each once.
	paged, pages := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?limit=64", "")
	if len(paged) != 700 || pages != 11 {
		t.Errorf("paged seats: %d in %d pages, want 700 in 11", len(paged), pages)
	}
	for i := range min(len(paged), len(all)) {
		if paged[i].ID != all[i].ID {
			t.Fatalf("paged seat %d = %s, want %s", i, paged[i].Label, all[i].Label)
		}
	}
	var first listJSON[seatJSON]
	f.env.Get(t, "/api/v1/events/"+e.ID+"/seats", "").Decode(t, &first)
	if len(first.Data) != 20 || first.NextCursor == nil {
		t.Errorf("default seat page: %d seats", len(first.Data))
	}

	// Filters by section, and section with pagination.
	floor, pages := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?section=Floor&limit=30", "")
	if len(floor) != 100 || pages != 4 || floor[0].Label != "Floor-00001" || floor[99].Label != "Floor-00100" {
		t.Errorf("Floor: %d seats in %d pages", len(floor), pages)
	}
	balcony, _ := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?section=Balcony&limit=1000", "")
	if len(balcony) != 600 || balcony[599].Label != "Balcony-AD-20" {
		t.Errorf("Balcony: %d seats", len(balcony))
	}

	// Statuses: 3 live holds, 2 expired holds, 4 booked.
	f.holdSeats(t, e.ID, 10*time.Minute, 1, 2, 650)
	f.holdSeats(t, e.ID, -time.Second, 3, 651)
	f.bookSeats(t, e.ID, 4, 5, 652, 700)
	count := func(query string) []seatJSON {
		seats, _ := listAll[seatJSON](t, f.env, "/api/v1/events/"+e.ID+"/seats?"+query, "")
		return seats
	}
	if got := count("status=held&limit=2"); len(got) != 3 || got[0].Label != "Balcony-A-1" || got[2].Label != "Floor-00050" {
		t.Errorf("held: %v", labels(got))
	}
	if got := count("status=booked"); len(got) != 4 || got[3].Label != "Floor-00100" {
		t.Errorf("booked: %v", labels(got))
	}
	if got := count("status=available&limit=1000"); len(got) != 693 || got[0].Label != "Balcony-A-3" {
		t.Errorf("available: %d, first %v", len(got), labels(got[:1]))
	}
	if got := count("status=held&section=Floor"); len(got) != 1 || got[0].Label != "Floor-00050" {
		t.Errorf("held on the floor: %v", labels(got))
	}
	if got := count("status=available&section=Floor&limit=1000"); len(got) != 97 {
		t.Errorf("available on the floor: %d, want 97", len(got))
	}
	// An expired hold shows as available in the full list too.
	want := map[int]string{1: "held", 2: "held", 650: "held", 4: "booked", 5: "booked", 652: "booked", 700: "booked"}
	for i, s := range count("limit=1000") {
		w := want[i+1]
		if w == "" {
			w = "available"
		}
		if s.Status != w {
			t.Errorf("%s: status %q, want %q", s.Label, s.Status, w)
		}
	}

	base := "/api/v1/events/" + e.ID + "/seats?"
	for _, bad := range []struct{ query, field string }{
		{"section=Stalls", "section"},
		{"status=sold", "status"},
		{"limit=many", "limit"},
		{"limit=0", "limit"},
		{"cursor=xyz!", "cursor"},
		{"cursor=eyJwIjowfQ", "cursor"}, // {"p":0}
		{"cursor=eyJzIjoiMjAyNi0wMS0wMVQwMDowMDowMFoifQ", "cursor"},
	} {
		wantProblem(t, "GET seats?"+bad.query, f.env.Get(t, base+bad.query, ""), http.StatusBadRequest, "validation_failed", bad.field)
	}
}

func TestSeatsLimitClamp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, set("sections", []any{map[string]any{"name": "Arena", "price_cents": 9900, "capacity": 1500}}))
	var p listJSON[seatJSON]
	f.env.Get(t, "/api/v1/events/"+e.ID+"/seats?limit=5000", "").Decode(t, &p)
	if len(p.Data) != 1000 || p.NextCursor == nil {
		t.Errorf("limit=5000: %d seats, want 1000 and a next page", len(p.Data))
	}
	if p.Data[999].Label != "Arena-01000" {
		t.Errorf("1000th seat %q", p.Data[999].Label)
	}
}

func TestAvailability(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	if got := f.getEvent(t, e.ID, ""); got.Availability != (availabilityJSON{Available: 700}) {
		t.Errorf("fresh event availability %+v", got.Availability)
	}
	f.holdSeats(t, e.ID, 10*time.Minute, 1, 2, 650)
	f.holdSeats(t, e.ID, -time.Second, 3, 651)
	f.bookSeats(t, e.ID, 4, 5, 652, 700)
	want := availabilityJSON{Available: 693, Held: 3, Booked: 4}
	// Admins see exact counts at once.
	if got := f.getEvent(t, e.ID, f.admin); got.Availability != want {
		t.Errorf("admin availability = %+v, want %+v", got.Availability, want)
	}
	// The public view may lag by up to a second.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := f.getEvent(t, e.ID, "")
		if got.Availability == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("public availability = %+v, want %+v", got.Availability, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var list listJSON[eventJSON]
	f.env.Get(t, "/api/v1/admin/events", f.admin).Decode(t, &list)
	if len(list.Data) != 1 || list.Data[0].Availability != want {
		t.Errorf("availability in the admin list = %+v", list.Data)
	}
	// A hold that lapses frees its seat without any cleanup.
	f.exec(t, `UPDATE seats SET held_until = now() - interval '1 second' WHERE event_id = $1 AND position = 650`, e.ID)
	want = availabilityJSON{Available: 694, Held: 2, Booked: 4}
	if got := f.getEvent(t, e.ID, f.admin); got.Availability != want {
		t.Errorf("after a hold lapsed: %+v, want %+v", got.Availability, want)
	}
}

func labels(seats []seatJSON) []string {
	out := make([]string, len(seats))
	for i, s := range seats {
		out[i] = s.Label
	}
	return out
}

// rowLabel is the reference for row letters: A..Z, AA, AB, ...
func rowLabel(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return rowLabel(i/26-1) + strings.Repeat(string(rune('A'+i%26)), 1)
}
