package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/redis"
)

// BenchmarkHoldConfirmWaitingRoom is BenchmarkHoldConfirm through a
// waiting room, with the funnel counting on (as in production) and off
// (redis.WithoutFunnel): each op is one buyer's whole way in — join the
// room, be admitted, read the ticket for the admission pass, hold two
// seats with the pass and confirm them — 64 buyers at once, in rounds of
// 256 fresh buyers. The joins and the pass-hold-confirm of each round are
// timed; the wait for the admission run between them (the room admits
// once a second) is not, since it is the room's pacing, not its cost, but
// the runs themselves happen then, counting admissions when on. It
// reports buyers per second over the timed parts and the join and hold
// latency percentiles, and checks the funnel counted every step (on) or
// nothing (off).
//
//	go test -run '^$' -bench HoldConfirmWaitingRoom -benchtime 2048x ./internal/httpapi/
func BenchmarkHoldConfirmWaitingRoom(b *testing.B) {
	b.Run("funnel=on", func(b *testing.B) { benchHoldConfirmRoom(b, true) })
	b.Run("funnel=off", func(b *testing.B) { benchHoldConfirmRoom(b, false) })
}

func benchHoldConfirmRoom(b *testing.B, counting bool) {
	const workers, round = 64, 256
	opts := []apptest.Option{apptest.WithEnv("EVENTLY_LOG_LEVEL", "error")}
	if !counting {
		opts = append(opts, apptest.WithWaitingRooms(redis.WithoutFunnel()))
	}
	f := newFixture(b, opts...)
	capacity := max(2*b.N+100, 1000)
	e := f.publish(b, gaEvent(capacity), withRoom(map[string]any{"enabled": true, "admit_per_minute": 100000,
		"admission_ttl_seconds": 600}))
	tokens := f.buyers(b, b.N)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	roomPath := "/api/v1/events/" + e.ID + "/waiting-room"
	holdBody, _ := json.Marshal(map[string]any{"event_id": e.ID, "quantity": 2})
	call := func(method, path, token string, header http.Header, payload []byte, into any) (int, error) {
		req, _ := http.NewRequest(method, f.env.URL+path, bytes.NewReader(payload))
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && into != nil {
			err = json.Unmarshal(body, into)
		}
		return resp.StatusCode, err
	}
	// each runs op on the buyers i of [lo, hi), workers at once.
	each := func(lo, hi int, op func(i int) bool) bool {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := true
		next := lo
		for range workers {
			wg.Go(func() {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= hi {
						return
					}
					if !op(i) {
						mu.Lock()
						ok = false
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		return ok
	}

	var (
		mu               sync.Mutex
		joins, holds     = make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
		timed, admitWait time.Duration
	)
	note := func(into *[]time.Duration, d time.Duration) {
		mu.Lock()
		*into = append(*into, d)
		mu.Unlock()
	}
	b.ResetTimer()
	for lo := 0; lo < b.N; lo += round {
		hi := min(lo+round, b.N)
		start := time.Now()
		if !each(lo, hi, func(i int) bool {
			t0 := time.Now()
			status, err := call(http.MethodPost, roomPath, tokens[i], nil, nil, nil)
			note(&joins, time.Since(t0))
			return err == nil && status == http.StatusOK
		}) {
			b.Fatalf("joins of buyers %d..%d failed", lo, hi)
		}
		timed += time.Since(start)

		b.StopTimer()
		waitFrom := time.Now()
		for {
			var st struct {
				AdmittedTotal int `json:"admitted_total"`
			}
			if status, err := call(http.MethodGet, "/api/v1/admin/events/"+e.ID+"/waiting-room", f.admin, nil, nil, &st); err != nil || status != http.StatusOK {
				b.Fatalf("room stats = %d, %v", status, err)
			}
			if st.AdmittedTotal >= hi {
				break
			}
			if time.Since(waitFrom) > time.Minute {
				b.Fatalf("%d of %d admitted after a minute", st.AdmittedTotal, hi)
			}
			time.Sleep(20 * time.Millisecond)
		}
		admitWait += time.Since(waitFrom)
		b.StartTimer()

		start = time.Now()
		if !each(lo, hi, func(i int) bool {
			var tk ticketJSON
			if status, err := call(http.MethodGet, roomPath, tokens[i], nil, nil, &tk); err != nil || status != http.StatusOK ||
				tk.Status != "admitted" || tk.Pass == nil {
				return false
			}
			var bk bookingJSON
			t0 := time.Now()
			status, err := call(http.MethodPost, "/api/v1/bookings", tokens[i], http.Header{"Evently-Admission": {*tk.Pass}}, holdBody, &bk)
			note(&holds, time.Since(t0))
			if err != nil || status != http.StatusCreated {
				return false
			}
			status, err = call(http.MethodPost, "/api/v1/bookings/"+bk.ID+"/confirm", tokens[i], nil, nil, nil)
			return err == nil && status == http.StatusOK
		}) {
			b.Fatalf("pass, hold or confirm of buyers %d..%d failed", lo, hi)
		}
		timed += time.Since(start)
	}
	b.StopTimer()

	var fn funnelJSON
	if status, err := call(http.MethodGet, "/api/v1/admin/analytics/events/"+e.ID+"/funnel", f.admin, nil, nil, &fn); err != nil || status != http.StatusOK {
		b.Fatalf("funnel = %d, %v", status, err)
	}
	want := int64(b.N)
	if !counting {
		want = 0
	}
	if fn.Joined != want || fn.Admitted != want || fn.Held != int64(b.N) || fn.Confirmed != int64(b.N) {
		b.Fatalf("funnel joined %d, admitted %d, held %d, confirmed %d; want %d, %d, %d, %d",
			fn.Joined, fn.Admitted, fn.Held, fn.Confirmed, want, want, b.N, b.N)
	}
	b.ReportMetric(float64(b.N)/timed.Seconds(), "buyers/s")
	b.ReportMetric(admitWait.Seconds()/float64((b.N+round-1)/round), "admit-wait-s")
	reportLatencies(b, joins, "join-")
	reportLatencies(b, holds, "hold-")
}
