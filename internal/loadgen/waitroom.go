package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
)

// ticket is the waiting-room Ticket as a client reads it.
type ticket struct {
	Status        string     `json:"status"`
	Position      *int64     `json:"position"`
	EstimatedWait int64      `json:"estimated_wait_seconds"`
	JoinedAt      time.Time  `json:"joined_at"`
	AdmittedAt    *time.Time `json:"admitted_at"`
}

// joiner is one user in the waiting room.
type joiner struct {
	token    string
	buyer    bool // a registered account that books once admitted
	order    int  // 1 = joined first
	admitted time.Time
}

// waitroom: joiners take a place in an event's waiting room and poll their
// ticket while the room admits them at its rate; the registered buyers
// among them are refused booking before admission and book after it.
// Joiners beyond the registered buyers are synthetic users whose tokens are
// minted with the server's JWT secret (Config.JWTSecret): registering tens
// of thousands of accounts would measure password hashing, not the room.
func (r *run) waitroom(ctx context.Context) (Report, error) {
	e, err := r.createEvent(ctx, "Waiting room "+r.id,
		[]map[string]any{{"name": "Floor", "price_cents": 9000, "capacity": max(r.cfg.Seats, 1000)}},
		map[string]any{"waiting_room": map[string]any{"enabled": true, "admit_per_minute": r.cfg.AdmitPerMinute,
			"admission_ttl_seconds": 600}})
	if err != nil {
		return Report{}, err
	}
	buyers := min(r.cfg.Buyers, r.cfg.Joiners)
	if len(r.cfg.JWTSecret) == 0 {
		buyers = r.cfg.Joiners
	}
	sessions, err := r.register(ctx, buyers)
	if err != nil {
		return Report{}, err
	}
	joiners := make([]*joiner, r.cfg.Joiners)
	minted := auth.NewTokens(r.cfg.JWTSecret, time.Hour, nil)
	for i := range joiners {
		j := &joiner{}
		if i < len(sessions) {
			j.token, j.buyer = sessions[i].AccessToken, true
		} else if j.token, err = minted.Issue(auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}); err != nil {
			return Report{}, err
		}
		joiners[i] = j
	}
	// Buyers are spread through the queue, not all at its head.
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 7))
	rng.Shuffle(len(joiners), func(a, b int) { joiners[a], joiners[b] = joiners[b], joiners[a] })

	ctx, cancel := context.WithTimeout(ctx, r.cfg.MaxDuration)
	defer cancel()
	path := "/api/v1/events/" + e.ID + "/waiting-room"
	var (
		joined, admitted, booked, refusedEarly atomic.Int64
		wg                                     sync.WaitGroup
	)
	start := time.Now()
	stop := make(chan struct{})
	go progress(r.cfg.Progress, 500*time.Millisecond, func() string {
		return fmt.Sprintf("waitroom %5.1fs: %d joined, %d admitted, %d booked", time.Since(start).Seconds(),
			joined.Load(), admitted.Load(), booked.Load())
	}, stop)

	// Join one after another, so that join order is known; each joiner
	// polls from the moment it has joined.
	for i, j := range joiners {
		if ctx.Err() != nil {
			break
		}
		var t ticket
		res, err := r.c.call(ctx, "POST /events/{id}/waiting-room", http.MethodPost, path, j.token, nil, &t)
		if err != nil || res.status != http.StatusOK {
			continue
		}
		j.order = i + 1
		joined.Add(1)
		if j.buyer && t.Status == "waiting" && refusedEarly.Load() < 20 {
			res, err := r.c.call(ctx, "POST /bookings (before admission)", http.MethodPost, "/api/v1/bookings", j.token,
				map[string]any{"event_id": e.ID, "quantity": 1}, nil)
			if err == nil && res.code == "waiting_room_required" {
				refusedEarly.Add(1)
			}
		}
		wg.Go(func() { r.poll(ctx, e.ID, path, j, &admitted, &booked) })
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)

	var stats struct {
		Waiting       int64 `json:"waiting"`
		Active        int64 `json:"active"`
		AdmittedTotal int64 `json:"admitted_total"`
	}
	_ = r.c.expect(context.WithoutCancel(ctx), http.StatusOK, "GET /admin/events/{id}/waiting-room", http.MethodGet,
		"/api/v1/admin/events/"+e.ID+"/waiting-room", r.admin, nil, &stats)

	inversions, perMinute := admissionOrder(joiners)
	rep := Report{
		Started: start, DurationSec: elapsed.Seconds(), Buyers: buyers, Seats: e.Capacity,
		Figures: map[string]any{
			"joiners":                    joined.Load(),
			"admitted_seen_by_clients":   admitted.Load(),
			"admitted_total_server":      stats.AdmittedTotal,
			"still_waiting":              stats.Waiting,
			"admit_per_minute_set":       r.cfg.AdmitPerMinute,
			"admitted_per_minute_peak":   perMinute,
			"admission_order_inversions": inversions,
			"bookings_after_admission":   booked.Load(),
			"refused_before_admission":   refusedEarly.Load(),
			"poll_latency":               r.rec.latency("GET /events/{id}/waiting-room", "200"),
			"join_latency":               r.rec.latency("POST /events/{id}/waiting-room", "200"),
			"polls_per_second":           float64(r.rec.total("GET /events/{id}/waiting-room")) / elapsed.Seconds(),
		},
	}
	first, last := r.pollLatencyByQueueLength()
	rep.Figures["poll_latency_long_queue"], rep.Figures["poll_latency_short_queue"] = first, last
	if stats.Waiting > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("stopped by the %v limit with %d still waiting (at %d/min the room needs %.0fs for all)",
			r.cfg.MaxDuration, stats.Waiting, r.cfg.AdmitPerMinute, float64(r.cfg.Joiners)/float64(r.cfg.AdmitPerMinute)*60))
	}
	return rep, r.check(context.WithoutCancel(ctx), &rep, e.ID)
}

// poll checks a joiner's ticket every PollEvery (with jitter) until it is
// admitted; an admitted buyer then holds one seat and confirms it.
func (r *run) poll(ctx context.Context, eventID, path string, j *joiner, admitted, booked *atomic.Int64) {
	every := r.cfg.PollEvery
	time.Sleep(time.Duration(rand.Int64N(int64(every) + 1)))
	for ctx.Err() == nil {
		var t ticket
		started := time.Now()
		res, err := r.c.call(ctx, "GET /events/{id}/waiting-room", http.MethodGet, path, j.token, nil, &t)
		if err == nil && res.status == http.StatusOK {
			r.notePoll(started, t)
			if t.Status == "admitted" {
				if t.AdmittedAt != nil {
					j.admitted = *t.AdmittedAt
				}
				admitted.Add(1)
				if j.buyer {
					var bk bookingRef
					res, err := r.c.call(ctx, "POST /bookings", http.MethodPost, "/api/v1/bookings", j.token,
						map[string]any{"event_id": eventID, "quantity": 1}, &bk)
					if err == nil && res.status == http.StatusCreated {
						res, err := r.c.call(ctx, "POST /bookings/{id}/confirm", http.MethodPost,
							"/api/v1/bookings/"+bk.ID+"/confirm", j.token, nil, nil)
						if err == nil && res.status == http.StatusOK {
							booked.Add(1)
						}
					}
				}
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// pollSample is one poll's latency and the caller's place in the queue.
type pollSample struct {
	position int64
	took     time.Duration
}

func (r *run) notePoll(started time.Time, t ticket) {
	if t.Position == nil {
		return
	}
	r.pollMu.Lock()
	r.polls = append(r.polls, pollSample{position: *t.Position, took: time.Since(started)})
	r.pollMu.Unlock()
}

// pollLatencyByQueueLength compares polls made from deep in the queue with
// polls made near its head: for O(1) polls they cost the same.
func (r *run) pollLatencyByQueueLength() (deep, near Latency) {
	r.pollMu.Lock()
	s := slices.Clone(r.polls)
	r.pollMu.Unlock()
	if len(s) < 10 {
		return Latency{}, Latency{}
	}
	sort.Slice(s, func(a, b int) bool { return s[a].position > s[b].position })
	tenth := len(s) / 10
	took := func(ps []pollSample) []time.Duration {
		out := make([]time.Duration, len(ps))
		for i, p := range ps {
			out[i] = p.took
		}
		return out
	}
	return summarise(took(s[:tenth])), summarise(took(s[len(s)-tenth:]))
}

// admissionOrder counts pairs admitted out of join order (a later joiner
// admitted strictly before an earlier one) and the most admissions in any
// one minute.
func admissionOrder(joiners []*joiner) (inversions int, peakPerMinute int) {
	var adm []*joiner
	for _, j := range joiners {
		if !j.admitted.IsZero() && j.order > 0 {
			adm = append(adm, j)
		}
	}
	slices.SortFunc(adm, func(a, b *joiner) int { return a.order - b.order })
	latest := time.Time{}
	for _, j := range adm {
		if j.admitted.Before(latest) {
			inversions++
		}
		if j.admitted.After(latest) {
			latest = j.admitted
		}
	}
	times := make([]time.Time, len(adm))
	for i, j := range adm {
		times[i] = j.admitted
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for lo, hi := 0, 0; hi < len(times); hi++ {
		for times[hi].Sub(times[lo]) >= time.Minute {
			lo++
		}
		peakPerMinute = max(peakPerMinute, hi-lo+1)
	}
	return inversions, peakPerMinute
}
