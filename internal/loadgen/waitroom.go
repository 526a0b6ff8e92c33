package loadgen

import (
	"context"
	"fmt"
	"math"
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
	Pass          *string    `json:"pass"`
	PollAfterMS   int64      `json:"poll_after_ms"`
}

// joiner is one user in the waiting room.
type joiner struct {
	token string
	buyer bool // a registered account that books once admitted
	order int  // 1 = joined first
	// early: the join answered pre_queue (it came before the opening).
	early    bool
	admitted time.Time
	// held is when the buyer's hold was made (the booking's created_at).
	held time.Time
}

// openingLead is how far ahead the scenario moves sales_start once the
// pre-queue has joined: long enough for every process's one-second
// settings cache to learn it, and for the room's idle admission chain
// (a run every 5 s while sales are closed) to schedule its next run at
// the opening itself.
const openingLead = 6 * time.Second

// waitroom: joiners take a place in an event's waiting room and poll their
// ticket, as the server paces them, while the room admits them at its
// rate; the registered buyers among them are refused booking before
// admission and book after it with their admission pass.
//
// The first PreQueue share of the joiners join while sales_start is an
// hour away, in the pre-queue; then the organiser moves sales_start to
// openingLead from now, and the rest join once the room has opened. So
// the run shows the opening's draw: the pre-queue is admitted first, in an
// order unrelated to the order of joining, and the late joiners behind it
// in arrival order.
//
// Joiners beyond the registered buyers are synthetic users whose tokens are
// minted with the server's JWT secret (Config.JWTSecret): registering tens
// of thousands of accounts would measure password hashing, not the room.
func (r *run) waitroom(ctx context.Context) (Report, error) {
	room := map[string]any{"waiting_room": map[string]any{"enabled": true, "admit_per_minute": r.cfg.AdmitPerMinute,
		"admission_ttl_seconds": 600}}
	nPre := int(math.Round(float64(r.cfg.Joiners) * min(max(r.cfg.PreQueue, 0), 1)))
	if nPre > 0 {
		room["sales_start"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	}
	// A seat for every joiner: admission stops once the seats are spoken
	// for, and this scenario measures the admission rate, not a sell-out.
	e, err := r.createEvent(ctx, "Waiting room "+r.id,
		[]map[string]any{{"name": "Floor", "price_cents": 9000, "capacity": max(r.cfg.Seats, r.cfg.Joiners, 1000)}}, room)
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
		opens                                  time.Time
	)
	start := time.Now()
	stop := make(chan struct{})
	go progress(r.cfg.Progress, 500*time.Millisecond, func() string {
		return fmt.Sprintf("waitroom %5.1fs: %d joined, %d admitted, %d booked", time.Since(start).Seconds(),
			joined.Load(), admitted.Load(), booked.Load())
	}, stop)

	// Join one after another, so that join order is known. Late joiners
	// poll from the moment they have joined; the pre-queue from the moment
	// the opening is set, spread over a second.
	join := func(i int, j *joiner) bool {
		var t ticket
		res, err := r.c.call(ctx, "POST /events/{id}/waiting-room", http.MethodPost, path, j.token, nil, &t)
		if err != nil || res.status != http.StatusOK {
			return false
		}
		j.order, j.early = i+1, t.Status == "pre_queue"
		joined.Add(1)
		if j.buyer && t.Status == "waiting" && refusedEarly.Load() < 20 {
			res, err := r.c.call(ctx, "POST /bookings (before admission)", http.MethodPost, "/api/v1/bookings", j.token,
				map[string]any{"event_id": e.ID, "quantity": 1}, nil)
			if err == nil && res.code == "waiting_room_required" {
				refusedEarly.Add(1)
			}
		}
		return true
	}
	var early []*joiner
	for i, j := range joiners[:nPre] {
		if ctx.Err() != nil {
			break
		}
		if join(i, j) {
			early = append(early, j)
		}
	}
	if nPre > 0 && ctx.Err() == nil {
		opens = time.Now().Add(openingLead).Truncate(time.Second).Add(time.Second)
		if err := r.c.expect(ctx, http.StatusOK, "PATCH /admin/events/{id}", http.MethodPatch, "/api/v1/admin/events/"+e.ID,
			r.admin, map[string]any{"sales_start": opens.UTC().Format(time.RFC3339)}, nil); err != nil {
			return Report{}, fmt.Errorf("open the sale: %w", err)
		}
		for _, j := range early {
			wg.Go(func() {
				sleepCtx(ctx, rand.N(time.Second))
				r.poll(ctx, e.ID, path, j, &admitted, &booked)
			})
		}
		// Late joiners come after the opening: once a poll shows it.
		sleepCtx(ctx, time.Until(opens))
		for ctx.Err() == nil && len(early) > 0 {
			var t ticket
			res, err := r.c.call(ctx, "GET /events/{id}/waiting-room", http.MethodGet, path, early[0].token, nil, &t)
			if err == nil && res.status == http.StatusOK && t.Status != "pre_queue" {
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	for i, j := range joiners[nPre:] {
		if ctx.Err() != nil {
			break
		}
		if join(nPre+i, j) {
			wg.Go(func() { r.poll(ctx, e.ID, path, j, &admitted, &booked) })
		}
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

	order := admissionOrderOf(joiners)
	rep := Report{
		Started: start, DurationSec: elapsed.Seconds(), Buyers: buyers, Seats: e.Capacity,
		Figures: map[string]any{
			"joiners":                               joined.Load(),
			"prequeue_joiners":                      order.preJoined,
			"post_opening_joiners":                  order.postJoined,
			"admitted_seen_by_clients":              admitted.Load(),
			"admitted_total_server":                 stats.AdmittedTotal,
			"still_waiting":                         stats.Waiting,
			"admit_per_minute_set":                  r.cfg.AdmitPerMinute,
			"admitted_per_minute_peak":              order.peakPerMinute,
			"prequeue_admitted":                     order.preAdmitted,
			"prequeue_admitted_before_post_joiners": order.preBeforePost,
			"post_opening_admitted":                 order.postAdmitted,
			"post_opening_admission_inversions":     order.postInversions,
			"prequeue_join_admission_rank_corr":     order.preRankCorrelation,
			"prequeue_admission_batches":            order.preBatches,
			"bookings_after_admission_with_pass":    booked.Load(),
			"refused_before_admission":              refusedEarly.Load(),
			"poll_latency":                          r.rec.latency("GET /events/{id}/waiting-room", "200"),
			"join_latency":                          r.rec.latency("POST /events/{id}/waiting-room", "200"),
			"polls_per_second":                      float64(r.rec.total("GET /events/{id}/waiting-room")) / elapsed.Seconds(),
			"polls_per_joiner":                      float64(r.rec.total("GET /events/{id}/waiting-room")) / float64(max(joined.Load(), 1)),
			"first_admission_after_opening_s":       order.firstAfter(opens),
			"holds_with_pass_not_201":               r.rec.total("POST /bookings") - r.rec.count("POST /bookings", "201"),
		},
	}
	first, last := r.pollLatencyByQueueLength()
	rep.Figures["poll_latency_long_queue"], rep.Figures["poll_latency_short_queue"] = first, last
	if nPre > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d joined before sales opened at %s (pre-queue), the rest after; "+
			"prequeue_admitted_before_post_joiners must equal prequeue_admitted (a batch admitting the last of the pre-queue "+
			"and the first late joiner counts as before), post_opening_admission_inversions must be 0, and the rank "+
			"correlation of the pre-queue's join and admission order should be near 0",
			order.preJoined, opens.Format(time.TimeOnly)))
	}
	if stats.Waiting > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("stopped by the %v limit with %d still waiting (at %d/min the room needs %.0fs for all)",
			r.cfg.MaxDuration, stats.Waiting, r.cfg.AdmitPerMinute, float64(r.cfg.Joiners)/float64(r.cfg.AdmitPerMinute)*60))
	}
	err = r.check(context.WithoutCancel(ctx), &rep, e.ID)
	r.reconcileFunnel(context.WithoutCancel(ctx), &rep, e.ID, start, joined.Load(), stats.AdmittedTotal, joiners)
	return rep, err
}

// poll checks a joiner's ticket when the server says to (poll_after_ms),
// or every PollEvery when set, until it is admitted; an admitted buyer
// then holds one seat with the ticket's pass and confirms it.
func (r *run) poll(ctx context.Context, eventID, path string, j *joiner, admitted, booked *atomic.Int64) {
	for ctx.Err() == nil {
		var t ticket
		started := time.Now()
		wait := r.cfg.PollEvery
		res, err := r.c.call(ctx, "GET /events/{id}/waiting-room", http.MethodGet, path, j.token, nil, &t)
		if err == nil && res.status == http.StatusOK {
			r.notePoll(started, t)
			if t.Status == "admitted" {
				if t.AdmittedAt != nil {
					j.admitted = *t.AdmittedAt
				}
				admitted.Add(1)
				if j.buyer && t.Pass != nil {
					r.book(ctx, eventID, j, *t.Pass, booked)
				}
				return
			}
			if wait == 0 {
				wait = time.Duration(t.PollAfterMS) * time.Millisecond
			}
		}
		if wait == 0 {
			wait = time.Second
		}
		sleepCtx(ctx, wait)
	}
}

// book holds one seat with the admission pass and confirms it.
func (r *run) book(ctx context.Context, eventID string, j *joiner, pass string, booked *atomic.Int64) {
	var bk bookingRef
	res, err := r.c.hold(ctx, j.token, pass, map[string]any{"event_id": eventID, "quantity": 1}, &bk)
	if err != nil || res.status != http.StatusCreated {
		return
	}
	j.held = bk.CreatedAt
	if r.c.confirm(ctx, j.token, bk.ID) {
		booked.Add(1)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
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

// admissionOrder is what the joiners' admission times say about the
// room's order.
type admissionOrder struct {
	preJoined, postJoined int
	// preAdmitted and postAdmitted count the admissions clients saw.
	preAdmitted, postAdmitted int
	// preBeforePost counts pre-queue members admitted no later than the
	// first late joiner (all of them, when no late joiner was admitted).
	preBeforePost int
	// postInversions counts pairs of late joiners admitted strictly out of
	// join order.
	postInversions int
	// preRankCorrelation is Spearman's rank correlation of the pre-queue's
	// join order and admission times (ties share their average rank): near
	// 0 for a random draw, 1 for join order. It means something only when
	// the pre-queue was admitted over many batches (preBatches).
	preRankCorrelation float64
	preBatches         int
	peakPerMinute      int
	firstAdmission     time.Time
}

// firstAfter is how long after opens the first admission came, in
// seconds (0 when there was no opening or no admission).
func (o admissionOrder) firstAfter(opens time.Time) float64 {
	if opens.IsZero() || o.firstAdmission.IsZero() {
		return 0
	}
	return o.firstAdmission.Sub(opens).Seconds()
}

func admissionOrderOf(joiners []*joiner) admissionOrder {
	var o admissionOrder
	var pre, post, all []*joiner
	for _, j := range joiners {
		if j.order == 0 {
			continue
		}
		if j.early {
			o.preJoined++
		} else {
			o.postJoined++
		}
		if j.admitted.IsZero() {
			continue
		}
		all = append(all, j)
		if j.early {
			pre = append(pre, j)
		} else {
			post = append(post, j)
		}
	}
	byOrder := func(a, b *joiner) int { return a.order - b.order }
	slices.SortFunc(pre, byOrder)
	slices.SortFunc(post, byOrder)
	o.preAdmitted, o.postAdmitted = len(pre), len(post)

	var firstPost time.Time
	for _, j := range post {
		if firstPost.IsZero() || j.admitted.Before(firstPost) {
			firstPost = j.admitted
		}
	}
	for _, j := range pre {
		if firstPost.IsZero() || !j.admitted.After(firstPost) {
			o.preBeforePost++
		}
	}
	latest := time.Time{}
	for _, j := range post {
		if j.admitted.Before(latest) {
			o.postInversions++
		}
		if j.admitted.After(latest) {
			latest = j.admitted
		}
	}
	if len(pre) > 1 {
		joinRank := make([]float64, len(pre))
		times := make([]float64, len(pre))
		for i, j := range pre {
			joinRank[i] = float64(i)
			times[i] = float64(j.admitted.UnixNano())
		}
		o.preRankCorrelation = math.Round(pearson(joinRank, ranks(times))*1e4) / 1e4
		slices.Sort(times)
		o.preBatches = len(slices.Compact(times))
	}

	times := make([]time.Time, len(all))
	for i, j := range all {
		times[i] = j.admitted
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) > 0 {
		o.firstAdmission = times[0]
	}
	for lo, hi := 0, 0; hi < len(times); hi++ {
		for times[hi].Sub(times[lo]) >= time.Minute {
			lo++
		}
		o.peakPerMinute = max(o.peakPerMinute, hi-lo+1)
	}
	return o
}

// ranks returns the rank of each value (0-based), ties sharing their
// average rank.
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(v))
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi+1 < len(idx) && v[idx[hi+1]] == v[idx[lo]] {
			hi++
		}
		for k := lo; k <= hi; k++ {
			out[idx[k]] = float64(lo+hi) / 2
		}
		lo = hi + 1
	}
	return out
}

// pearson is the correlation of x and y (0 when either is constant).
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}
