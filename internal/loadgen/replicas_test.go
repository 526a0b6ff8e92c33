package loadgen_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/internal/loadgen"
)

// TestSpreadsBuyersOverReplicas: with -url a,b,c, every replica serves
// buyers, each buyer's requests all go to one replica, and the batch-size
// figures add up every replica's /metrics. The three replicas here are
// three listeners of one fake (one shared state), as three evently
// processes share one database.
func TestSpreadsBuyersOverReplicas(t *testing.T) {
	t.Parallel()
	const buyers, seats = 12, 60
	srv, _ := newFakeEvently(t, true)
	var mu sync.Mutex
	servedBy := map[string]map[int]bool{} // token → replicas
	perReplica := make([]int, 3)
	urls := ""
	for i := range 3 {
		rep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tok := r.Header.Get("Authorization"); tok != "" && r.URL.Path == "/api/v1/bookings" {
				mu.Lock()
				if servedBy[tok] == nil {
					servedBy[tok] = map[int]bool{}
				}
				servedBy[tok][i] = true
				perReplica[i]++
				mu.Unlock()
			}
			srv.Config.Handler.ServeHTTP(w, r)
		}))
		t.Cleanup(rep.Close)
		if i > 0 {
			urls += ","
		}
		urls += rep.URL
	}
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		BaseURL: urls, AdminEmail: "admin@evently.test", AdminPassword: "secret",
		Buyers: buyers, Seats: seats, MaxDuration: time.Minute, Seed: 1,
	}, "single")
	if err != nil {
		t.Fatalf("Run(single) over 3 replicas error = %v", err)
	}
	if rep.Figures["bookings"] != int64(seats) || rep.ServerError != 0 {
		t.Errorf("Run(single) over 3 replicas = %v bookings, %d server errors; want %d, 0", rep.Figures["bookings"], rep.ServerError, seats)
	}
	for i, n := range perReplica {
		if n == 0 {
			t.Errorf("replica %d served no hold (holds per replica %v)", i, perReplica)
		}
	}
	if len(servedBy) != buyers {
		t.Errorf("%d buyers' tokens seen, want %d", len(servedBy), buyers)
	}
	for tok, replicas := range servedBy {
		if len(replicas) != 1 {
			t.Errorf("buyer %s… was served by replicas %v, want one", tok[:16], replicas)
		}
	}
	// Each listener exports the one fake's histogram: the sum counts it
	// three times, which shows that every replica was scraped.
	if b, ok := rep.Figures["batch_size_hold"].(loadgen.BatchSizes); !ok || b.Requests != 3*seats {
		t.Errorf("batch_size_hold = %+v, want the 3 replicas' %d requests summed", rep.Figures["batch_size_hold"], 3*seats)
	}
}
