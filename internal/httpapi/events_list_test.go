package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestListPagination pages through 25 events 10 at a time while events are
// inserted before and after the cursor: every original event comes exactly
// once, in (starts_at, id) order, and the last page has no next cursor.
func TestListPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) func(map[string]any) { return set("starts_at", rfc3339(base.Add(d))) }
	// Five events share each start time, so ties are broken by id.
	var originals []eventJSON
	for i := range 25 {
		originals = append(originals, f.publish(t, at(time.Duration(i/5)*time.Hour), set("name", fmt.Sprintf("Event %02d", i))))
	}
	sort.Slice(originals, func(i, j int) bool {
		a, b := originals[i], originals[j]
		return a.StartsAt.Before(b.StartsAt) || (a.StartsAt.Equal(b.StartsAt) && a.ID < b.ID)
	})
	from := url.QueryEscape(rfc3339(base))
	page := func(cursor string) listJSON[eventJSON] {
		path := "/api/v1/events?limit=10&from=" + from
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var p listJSON[eventJSON]
		f.env.Get(t, path, "").Want(t, http.StatusOK).Decode(t, &p)
		return p
	}

	var seen []eventJSON
	p1 := page("")
	seen = append(seen, p1.Data...)
	if len(p1.Data) != 10 || p1.NextCursor == nil {
		t.Fatalf("page 1: %d events, next %v", len(p1.Data), p1.NextCursor)
	}
	// The cursor is the last event of the second group (base+1h). Before
	// it: the same start as the first group (a later v7 id sorts it last
	// there) and between the groups. After it: past the fourth group.
	before1 := f.publish(t, at(0), set("name", "Inserted before 1"))
	before2 := f.publish(t, at(30*time.Minute), set("name", "Inserted before 2"))
	after1 := f.publish(t, at(3*time.Hour+time.Minute), set("name", "Inserted after 1"))
	p2 := page(*p1.NextCursor)
	seen = append(seen, p2.Data...)
	if p2.NextCursor == nil {
		t.Fatalf("page 2 has no next cursor")
	}
	before3 := f.publish(t, at(2*time.Hour), set("name", "Inserted before 3"))
	after2 := f.publish(t, at(10*time.Hour), set("name", "Inserted after 2"))
	p3 := page(*p2.NextCursor)
	seen = append(seen, p3.Data...)
	for p3.NextCursor != nil {
		p3 = page(*p3.NextCursor)
		seen = append(seen, p3.Data...)
	}

	count := map[string]int{}
	for _, e := range seen {
		count[e.ID]++
		if count[e.ID] > 1 {
			t.Errorf("event %s (%s) listed twice", e.ID, e.Name)
		}
	}
	for _, e := range originals {
		if count[e.ID] != 1 {
			t.Errorf("original event %s (%s) listed %d times", e.ID, e.Name, count[e.ID])
		}
	}
	for _, e := range []eventJSON{after1, after2} {
		if count[e.ID] != 1 {
			t.Errorf("%s, inserted after the cursor, listed %d times", e.Name, count[e.ID])
		}
	}
	for _, e := range []eventJSON{before1, before2, before3} {
		if count[e.ID] != 0 {
			t.Errorf("%s, inserted before the cursor, listed %d times", e.Name, count[e.ID])
		}
	}
	var originalsSeen []string
	for _, e := range seen {
		if slices.Contains(ids(originals), e.ID) {
			originalsSeen = append(originalsSeen, e.ID)
		}
	}
	if !slices.Equal(originalsSeen, ids(originals)) {
		t.Errorf("originals out of (starts_at, id) order:\n got %v\nwant %v", originalsSeen, ids(originals))
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if b.StartsAt.Before(a.StartsAt) || (b.StartsAt.Equal(a.StartsAt) && b.ID <= a.ID) {
			t.Errorf("list out of order at %d: %s %s then %s %s", i, a.StartsAt, a.ID, b.StartsAt, b.ID)
		}
	}

	// Without insertions: exactly 25 + 5 in 3 pages of 10, the last with a
	// null cursor.
	all, pages := listAll[eventJSON](t, f.env, "/api/v1/events?limit=10&from="+from, "")
	if len(all) != 30 || pages != 3 {
		t.Errorf("full listing: %d events in %d pages, want 30 in 3", len(all), pages)
	}
}

func TestListLimitAndCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 3 {
		f.publish(t, set("name", fmt.Sprintf("E%d", i)))
	}
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 3}, {"?limit=2", 2}, {"?limit=1000", 3}, {"?limit=99999999999999999999", 3}} {
		r := f.env.Get(t, "/api/v1/events"+tt.query, "")
		var p listJSON[eventJSON]
		r.Decode(t, &p)
		if r.Status != http.StatusOK || len(p.Data) != tt.want {
			t.Errorf("GET /events%s = %d with %d events, want 200 with %d", tt.query, r.Status, len(p.Data), tt.want)
		}
	}
	// Larger limits are clamped to 100.
	for i := range 101 {
		f.publish(t, set("name", fmt.Sprintf("More %d", i)), set("sections", []any{map[string]any{"name": "GA", "price_cents": 0, "capacity": 1}}))
	}
	var p listJSON[eventJSON]
	f.env.Get(t, "/api/v1/events?limit=500", "").Decode(t, &p)
	if len(p.Data) != 100 || p.NextCursor == nil {
		t.Errorf("limit=500: %d events (next %v), want 100 and a next page", len(p.Data), p.NextCursor)
	}
	f.env.Get(t, "/api/v1/events", "").Decode(t, &p)
	if len(p.Data) != 20 {
		t.Errorf("default limit: %d events, want 20", len(p.Data))
	}

	for _, q := range []string{"limit=ten", "limit=0", "limit=-5", "limit=1.5", "limit="} {
		r := f.env.Get(t, "/api/v1/events?"+q, "")
		if q == "limit=" {
			if r.Status != http.StatusOK {
				t.Errorf("empty limit = %d, want the default", r.Status)
			}
			continue
		}
		wantProblem(t, "GET /events?"+q, r, http.StatusBadRequest, "validation_failed", "limit")
		wantProblem(t, "GET /admin/events?"+q, f.env.Get(t, "/api/v1/admin/events?"+q, f.admin), http.StatusBadRequest, "validation_failed", "limit")
	}
	for _, c := range []string{"garbage!", "eyJ4IjoxfQ", "bm90IGpzb24", "eyJzIjoiMjAyNi0wMS0wMVQwMDowMDowMFoifQ"} {
		wantProblem(t, "cursor "+c, f.env.Get(t, "/api/v1/events?cursor="+c, ""), http.StatusBadRequest, "validation_failed", "cursor")
		wantProblem(t, "admin cursor "+c, f.env.Get(t, "/api/v1/admin/events?cursor="+c, f.admin), http.StatusBadRequest, "validation_failed", "cursor")
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := time.Now().UTC()
	day := 24 * time.Hour
	hamlet := f.publish(t, set("name", "Hamlet"), set("venue", "Barbican Theatre"), set("category", "Theatre"),
		set("description", "Shakespeare's longest play."), set("starts_at", rfc3339(now.Add(1*day))))
	festival := f.publish(t, set("name", "London Jazz Festival"), set("venue", "Royal Albert Hall"), set("category", "music"),
		set("description", "Big band nights."), set("starts_at", rfc3339(now.Add(10*day))))
	brunch := f.publish(t, set("name", "Jazz brunch"), set("venue", "Ronnie Scott's"), set("category", "music"),
		set("description", "Pancakes and piano trios."), set("starts_at", rfc3339(now.Add(20*day))))
	draft := f.create(t, eventBody(set("name", "Jazz draft"), set("category", "music")))
	cancelled := f.publish(t, set("name", "Jazz cancelled"), set("category", "music"))
	f.env.Post(t, "/api/v1/admin/events/"+cancelled.ID+"/cancel", f.admin, nil)
	past := f.publish(t, set("name", "Jazz past"), set("category", "music"))
	f.exec(t, `UPDATE events SET starts_at = now() - interval '2 days' WHERE id = $1`, past.ID)

	q := url.QueryEscape
	tests := []struct {
		name, path string
		want       []eventJSON
	}{
		{"public default", "/api/v1/events", []eventJSON{hamlet, festival, brunch}},
		{"q by name", "/api/v1/events?q=hamlet", []eventJSON{hamlet}},
		{"q by prefix", "/api/v1/events?q=ham", []eventJSON{hamlet}},
		{"q two matches", "/api/v1/events?q=JAZZ", []eventJSON{festival, brunch}},
		{"q all words", "/api/v1/events?q=" + q("jazz lon"), []eventJSON{festival}},
		{"q by venue", "/api/v1/events?q=barbican", []eventJSON{hamlet}},
		{"q by description", "/api/v1/events?q=pancakes", []eventJSON{brunch}},
		{"q punctuation", "/api/v1/events?q=" + q("shakespeare's!"), []eventJSON{hamlet}},
		{"q no match", "/api/v1/events?q=opera", nil},
		{"q only punctuation", "/api/v1/events?q=" + q("&|!:*"), []eventJSON{hamlet, festival, brunch}},
		{"category", "/api/v1/events?category=music", []eventJSON{festival, brunch}},
		{"category case-insensitive", "/api/v1/events?category=THEATRE", []eventJSON{hamlet}},
		{"venue", "/api/v1/events?venue=" + q("royal albert hall"), []eventJSON{festival}},
		{"venue is the whole name", "/api/v1/events?venue=royal", nil},
		{"from", "/api/v1/events?from=" + q(rfc3339(now.Add(5*day))), []eventJSON{festival, brunch}},
		{"to", "/api/v1/events?to=" + q(rfc3339(now.Add(15*day))), []eventJSON{hamlet, festival}},
		{"from and to", "/api/v1/events?from=" + q(rfc3339(now.Add(5*day))) + "&to=" + q(rfc3339(now.Add(15*day))), []eventJSON{festival}},
		{"to as a date", "/api/v1/events?to=" + now.Add(15*day).Format(time.DateOnly), []eventJSON{hamlet, festival}},
		{"from in the past", "/api/v1/events?category=music&from=" + now.Add(-7*day).Format(time.DateOnly), []eventJSON{past, festival, brunch}},
		{"combined", "/api/v1/events?q=jazz&category=music&to=" + q(rfc3339(now.Add(15*day))), []eventJSON{festival}},
	}
	for _, tt := range tests {
		got, _ := listAll[eventJSON](t, f.env, tt.path, "")
		if !slices.Equal(ids(got), ids(tt.want)) {
			t.Errorf("%s: GET %s = %v, want %v", tt.name, tt.path, names(got), names(tt.want))
		}
	}

	admin := []struct {
		name, path string
		want       []eventJSON
	}{
		{"admin every status and date", "/api/v1/admin/events?category=music", []eventJSON{past, festival, brunch, draft, cancelled}},
		{"admin drafts", "/api/v1/admin/events?status=draft", []eventJSON{draft}},
		{"admin cancelled", "/api/v1/admin/events?status=cancelled", []eventJSON{cancelled}},
		{"admin published jazz", "/api/v1/admin/events?status=published&q=jazz", []eventJSON{past, festival, brunch}},
		{"admin from", "/api/v1/admin/events?category=music&from=" + q(rfc3339(now)), []eventJSON{festival, brunch, draft, cancelled}},
	}
	for _, tt := range admin {
		got, _ := listAll[eventJSON](t, f.env, tt.path, f.admin)
		if !sameSet(ids(got), ids(tt.want)) {
			t.Errorf("%s: GET %s = %v, want %v", tt.name, tt.path, names(got), names(tt.want))
		}
	}

	for _, bad := range []struct{ path, field string }{
		{"/api/v1/events?from=yesterday", "from"},
		{"/api/v1/events?to=2026-13-01", "to"},
		{"/api/v1/events?from=" + q(rfc3339(now.Add(2*day))) + "&to=" + q(rfc3339(now.Add(day))), "to"},
		{"/api/v1/admin/events?status=live", "status"},
	} {
		wantProblem(t, "GET "+bad.path, f.env.Get(t, bad.path, f.admin), http.StatusBadRequest, "validation_failed", bad.field)
	}
}

func names(events []eventJSON) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Name
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
