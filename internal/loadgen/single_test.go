package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evently/evently/internal/loadgen"
)

// fakeEvently answers the few endpoints the single scenario uses, from
// memory: one event, holds of one seat, confirmations, and on /metrics a
// batch-size histogram in which every hold is a batch of 1 and every
// confirmation a batch of 2 (after 50 earlier holds in batches of 3, which
// the scenario must not count).
type fakeEvently struct {
	mu      sync.Mutex
	left    int
	pending map[string]bool
	commits atomic.Int64
	batches *prometheus.HistogramVec
}

func newFakeEvently(t *testing.T, metrics bool) (*httptest.Server, *fakeEvently) {
	t.Helper()
	f := &fakeEvently{pending: map[string]bool{}}
	reg := prometheus.NewRegistry()
	f.batches = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "evently_booking_batch_size", Help: "Requests committed in one database transaction.",
		Buckets: []float64{1, 2, 4, 8, 16},
	}, []string{"kind"})
	reg.MustRegister(f.batches)
	for range 50 {
		f.batches.WithLabelValues("hold").Observe(3)
	}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	var users atomic.Int64
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"access_token": "admin"})
	})
	mux.HandleFunc("POST /api/v1/auth/register", func(w http.ResponseWriter, r *http.Request) {
		n := users.Add(1)
		reply(w, http.StatusCreated, map[string]any{"access_token": fmt.Sprintf("buyer-%d", n), "user": map[string]any{"id": fmt.Sprint(n)}})
	})
	mux.HandleFunc("POST /api/v1/admin/events", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Sections []struct {
				Capacity int `json:"capacity"`
			} `json:"sections"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Sections) != 1 {
			reply(w, http.StatusBadRequest, map[string]any{"code": "validation_failed"})
			return
		}
		f.mu.Lock()
		f.left = in.Sections[0].Capacity
		f.mu.Unlock()
		reply(w, http.StatusCreated, map[string]any{"id": "event-1", "capacity": in.Sections[0].Capacity})
	})
	var ids atomic.Int64
	mux.HandleFunc("POST /api/v1/bookings", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			EventID  string `json:"event_id"`
			Quantity int    `json:"quantity"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Quantity != 1 || in.EventID != "event-1" {
			reply(w, http.StatusBadRequest, map[string]any{"code": "validation_failed"})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.left == 0 {
			reply(w, http.StatusConflict, map[string]any{"code": "sold_out"})
			return
		}
		f.left--
		id := fmt.Sprintf("booking-%d", ids.Add(1))
		f.pending[id] = true
		f.commits.Add(1)
		f.batches.WithLabelValues("hold").Observe(1)
		reply(w, http.StatusCreated, map[string]any{"id": id, "seats": []map[string]any{{"id": "seat-" + id}}})
	})
	mux.HandleFunc("POST /api/v1/bookings/{id}/confirm", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.pending[r.PathValue("id")] {
			reply(w, http.StatusConflict, map[string]any{"code": "booking_not_pending"})
			return
		}
		delete(f.pending, r.PathValue("id"))
		f.commits.Add(1)
		f.batches.WithLabelValues("lifecycle").Observe(2)
		reply(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": "confirmed"})
	})
	if metrics {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, f
}

func TestSingleHoldsOneTicketAndConfirmsItUntilSoldOut(t *testing.T) {
	t.Parallel()
	const buyers, seats = 6, 40
	srv, fake := newFakeEvently(t, true)
	var checked atomic.Bool
	cfg := loadgen.Config{
		BaseURL: srv.URL, AdminEmail: "admin@evently.test", AdminPassword: "secret",
		Buyers: buyers, Seats: seats, MaxDuration: time.Minute, Seed: 1,
		Invariants: func(ctx context.Context, eventID string) ([]string, error) {
			checked.Store(eventID == "event-1")
			return nil, nil
		},
		Commits: func(ctx context.Context) (int64, error) { return fake.commits.Load(), nil },
	}
	rep, err := loadgen.Run(context.Background(), cfg, "single")
	if err != nil {
		t.Fatalf("Run(single) error = %v", err)
	}
	if rep.Scenario != "single" || rep.Buyers != buyers || rep.Seats != seats {
		t.Errorf("Run(single) = scenario %q, %d buyers, %d seats; want single, %d, %d", rep.Scenario, rep.Buyers, rep.Seats, buyers, seats)
	}
	if rep.ServerError != 0 || !rep.Checked || len(rep.Invariants) != 0 || !checked.Load() {
		t.Errorf("Run(single) = %d server errors, invariants checked %v (%v), broken %v", rep.ServerError, rep.Checked, checked.Load(), rep.Invariants)
	}
	fig := rep.Figures
	for key, want := range map[string]any{
		"bookings": int64(seats), "holds": int64(seats), "tickets_sold": int64(seats), "sold_out": true,
		"db_commits": int64(2 * seats),
	} {
		if fig[key] != want {
			t.Errorf("figure %s = %v (%T), want %v", key, fig[key], fig[key], want)
		}
	}
	if got := fmt.Sprint(fig["tickets_per_commit"]); got != "0.5" {
		t.Errorf("tickets_per_commit = %s, want 0.5", got)
	}
	for key, want := range map[string]int{
		"booking_latency": seats, "hold_latency_201": seats, "confirm_latency_200": seats,
		"hold_latency_sold_out": 3 * buyers, // each buyer stops after three sold_out answers in a row
	} {
		if l, ok := fig[key].(loadgen.Latency); !ok || l.Count != want || l.P99 < l.P50 {
			t.Errorf("figure %s = %+v, want %d answers", key, fig[key], want)
		}
	}
	if bl, hl := fig["booking_latency"].(loadgen.Latency), fig["hold_latency_201"].(loadgen.Latency); bl.Max < hl.P50 {
		t.Errorf("booking latency %+v is below the hold latency %+v it includes", bl, hl)
	}
	for _, key := range []string{"bookings_per_second", "holds_per_second", "time_to_sell_out_s"} {
		if v, ok := fig[key].(float64); !ok || v <= 0 || math.IsInf(v, 0) {
			t.Errorf("figure %s = %v, want a positive number", key, fig[key])
		}
	}
	// Holds are batches of 1 (the 50 earlier batches of 3 are not counted),
	// confirmations batches of 2; quantiles interpolate within the bucket.
	for key, want := range map[string]loadgen.BatchSizes{
		"batch_size_hold":      {Batches: seats, Requests: seats, Mean: 1, P50: .5, P99: .99},
		"batch_size_lifecycle": {Batches: seats, Requests: 2 * seats, Mean: 2, P50: 1.5, P99: 1.99},
	} {
		got, ok := fig[key].(loadgen.BatchSizes)
		if !ok || got.Batches != want.Batches || got.Requests != want.Requests || got.Mean != want.Mean ||
			math.Abs(got.P50-want.P50) > 1e-9 || math.Abs(got.P99-want.P99) > 1e-9 {
			t.Errorf("figure %s = %+v, want %+v", key, fig[key], want)
		}
	}
	statuses := map[string]map[string]int{}
	for _, e := range rep.Endpoints {
		statuses[e.Endpoint] = e.Statuses
	}
	if got := statuses["POST /bookings"]; got["201"] != seats || got["409 sold_out"] != 3*buyers || len(got) != 2 {
		t.Errorf("POST /bookings answers = %v, want 201×%d and 409 sold_out×%d", got, seats, 3*buyers)
	}
	if got := statuses["POST /bookings/{id}/confirm"]; got["200"] != seats || len(got) != 1 {
		t.Errorf("confirm answers = %v, want 200×%d", got, seats)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("json.Marshal(report) error = %v", err)
	}
	var text strings.Builder
	rep.WriteText(&text)
	for _, want := range []string{`bookings_per_second +\d`, `batch_size_hold +40 batches of 40 requests: mean 1\.00, p50 0\.50, p99 0\.99`,
		`tickets_per_commit +0\.50\n`, `note: db_commits .* upper bound`} {
		if !regexp.MustCompile(want).MatchString(text.String()) {
			t.Errorf("text report does not match %q:\n%s", want, text.String())
		}
	}
}

func TestSingleCarriesOnWithoutTheBatchSizeMetric(t *testing.T) {
	t.Parallel()
	srv, _ := newFakeEvently(t, false)
	cfg := loadgen.Config{
		BaseURL: srv.URL, AdminEmail: "admin@evently.test", AdminPassword: "secret",
		Buyers: 3, Seats: 10, MaxDuration: time.Minute,
	}
	rep, err := loadgen.Run(context.Background(), cfg, "single")
	if err != nil {
		t.Fatalf("Run(single) error = %v", err)
	}
	if rep.Figures["bookings"] != int64(10) || rep.Checked {
		t.Errorf("Run(single) = %v, invariants checked %v; want 10 bookings, unchecked", rep.Figures, rep.Checked)
	}
	for key := range rep.Figures {
		if strings.HasPrefix(key, "batch_size") || key == "tickets_per_commit" || key == "db_commits" {
			t.Errorf("Run(single) without metrics or database has figure %s", key)
		}
	}
	if notes := strings.Join(rep.Notes, "\n"); !strings.Contains(notes, "batch sizes not measured") {
		t.Errorf("Run(single) notes = %q, want one saying batch sizes were not measured", notes)
	}
}
