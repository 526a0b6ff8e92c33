package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
)

// BenchmarkHoldConfirm drives the whole HTTP path of a hot on-sale: many
// buyers at once each hold two general-admission seats of one event and
// confirm them. It reports holds per second and hold latency percentiles.
//
//	go test -run '^$' -bench HoldConfirm -benchtime 5000x ./internal/httpapi/
func BenchmarkHoldConfirm(b *testing.B) {
	for _, buyers := range []int{16, 64} {
		b.Run(fmt.Sprintf("buyers=%d", buyers), func(b *testing.B) { benchHoldConfirm(b, buyers) })
	}
}

// BenchmarkHoldConfirmWebhooks is BenchmarkHoldConfirm with webhooks on:
// every hold and confirmation also records its webhook in its transaction,
// and the worker delivers them to a local receiver meanwhile.
func BenchmarkHoldConfirmWebhooks(b *testing.B) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	for _, buyers := range []int{16, 64} {
		b.Run(fmt.Sprintf("buyers=%d", buyers), func(b *testing.B) {
			benchHoldConfirm(b, buyers, apptest.WithEnv("EVENTLY_WEBHOOK_URL", receiver.URL),
				apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", "bench-secret"))
		})
	}
}

func benchHoldConfirm(b *testing.B, buyers int, opts ...apptest.Option) {
	f := newFixture(b, append([]apptest.Option{apptest.WithEnv("EVENTLY_LOG_LEVEL", "error")}, opts...)...)
	capacity := min(100000, max(2*b.N+100, 1000))
	// Each buyer stands for many people: no limit per buyer in the way.
	e := f.publish(b, gaEvent(capacity), set("max_seats_per_user", capacity))
	tokens := f.buyers(b, buyers)
	body, _ := json.Marshal(map[string]any{"event_id": e.ID, "quantity": 2})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: buyers, MaxConnsPerHost: buyers}}

	post := func(path, token string, payload []byte) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, f.env.URL+path, bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+token)
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, out, err
	}

	var failed atomic.Int64
	latencies, elapsed := runRounds(b, buyers, func(w int, _ int64) time.Duration {
		t0 := time.Now()
		status, out, err := post("/api/v1/bookings", tokens[w], body)
		took := time.Since(t0) // the hold's
		if err != nil || status != http.StatusCreated {
			failed.Add(1)
			return took
		}
		var bk struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(out, &bk)
		if status, _, err := post("/api/v1/bookings/"+bk.ID+"/confirm", tokens[w], nil); err != nil || status != http.StatusOK {
			failed.Add(1)
		}
		return took
	})
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d hold+confirm rounds failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "holds/s")
	b.ReportMetric(2*float64(b.N)/elapsed.Seconds(), "tickets/s")
	reportLatencies(b, latencies, "hold-")
}

// postStatus posts the JSON body to url as the bearer of token, reads
// the answer to its end and returns its status: 0 when there was none.
func postStatus(client *http.Client, url, token string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// runRounds runs b.N rounds on workers goroutines, each worker taking the
// next round i (0 ≤ i < b.N) until none is left, under the benchmark's
// timer. It returns the latencies the rounds measured (round returns its
// own) and the time they all took.
func runRounds(b *testing.B, workers int, round func(worker int, i int64) time.Duration) ([]time.Duration, time.Duration) {
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			own := make([]time.Duration, 0, b.N/workers+1)
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				own = append(own, round(w, i))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	return latencies, elapsed
}

// reportLatencies reports the p50 and p99 of latencies in milliseconds,
// as <prefix>p50-ms and <prefix>p99-ms.
func reportLatencies(b *testing.B, latencies []time.Duration, prefix string) {
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), prefix+"p50-ms")
	b.ReportMetric(pct(0.99), prefix+"p99-ms")
}

// BenchmarkSoldOut measures the answer to buyers pressing the button after
// an on-sale ended: the whole HTTP path (JWT, JSON, chi) of POST /bookings
// on a sold-out event, 64 buyers at once. The engine answers from memory;
// nothing reaches Postgres.
func BenchmarkSoldOut(b *testing.B) {
	f := newFixture(b, apptest.WithEnv("EVENTLY_LOG_LEVEL", "error"))
	e := f.publish(b, gaEvent(1))
	tokens := f.buyers(b, 64)
	body, _ := json.Marshal(map[string]any{"event_id": e.ID, "quantity": 1})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	post := func(token string) int { return postStatus(client, f.env.URL+"/api/v1/bookings", token, body) }
	if s := post(tokens[0]); s != http.StatusCreated {
		b.Fatalf("the one seat: %d", s)
	}
	var wrong atomic.Int64
	latencies, elapsed := runRounds(b, len(tokens), func(w int, _ int64) time.Duration {
		t0 := time.Now()
		if post(tokens[w]) != http.StatusConflict {
			wrong.Add(1)
		}
		return time.Since(t0)
	})
	if n := wrong.Load(); n > 0 {
		b.Fatalf("%d of %d answers were not 409 sold_out", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "answers/s")
	reportLatencies(b, latencies, "")
}
