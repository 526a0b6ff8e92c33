package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a run.
type Config struct {
	// BaseURL is Evently's base URL, or several replicas' separated by
	// commas: buyers are then spread over them, each on one.
	BaseURL       string
	AdminEmail    string
	AdminPassword string
	// Buyers is the number of concurrent virtual buyers (one account each).
	Buyers int
	// Seats is the general-admission capacity of the rush and single
	// events.
	Seats int
	// ConfirmRatio is the share of holds confirmed in the rush; the others
	// are abandoned (cancelled, as a buyer closing the tab would, after the
	// hold time, lapse).
	ConfirmRatio float64
	// FrontRow is the number of seats the contention buyers fight over.
	FrontRow int
	// Joiners, AdmitPerMinute, PreQueue and PollEvery shape the
	// waiting-room scenario: PreQueue is the share of joiners who join
	// before sales open (0: sales are open from the start); PollEvery,
	// when set, replaces the server's pacing (poll_after_ms) with a fixed
	// interval.
	Joiners        int
	AdmitPerMinute int
	PreQueue       float64
	PollEvery      time.Duration
	// MaxDuration bounds each scenario.
	MaxDuration time.Duration
	// Progress receives the live status line (nil: none).
	Progress io.Writer
	// Invariants, when set, reads the booking rules of an event straight
	// from Postgres and returns the broken ones.
	Invariants func(ctx context.Context, eventID string) ([]string, error)
	// BookingBuyers, when set, counts an event's buyers straight from the
	// bookings table: those with a booking, and those with a booking that
	// was confirmed. The waiting-room scenario reconciles the funnel with
	// them.
	BookingBuyers func(ctx context.Context, eventID string) (held, confirmed int64, err error)
	// Commits, when set, returns how many transactions have committed in
	// Evently's database so far; the single scenario divides the tickets
	// it sold by the difference over its buying phase.
	Commits func(ctx context.Context) (int64, error)
	// CommitsLag is how long the database may take to count a commit
	// (Postgres publishes an idle session's counts up to 10s late): the
	// closing Commits reading waits this long after the buying phase.
	CommitsLag time.Duration
	// Seed makes the buyers' choices repeatable.
	Seed uint64
	// JWTSecret, when set, is the server's EVENTLY_JWT_SECRET: waiting-room
	// joiners beyond Buyers get tokens minted with it instead of accounts.
	JWTSecret []byte
}

// Run runs one scenario ("single", "rush", "contention" or "waitroom").
func Run(ctx context.Context, cfg Config, scenario string) (Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = 5 * time.Minute
	}
	var bases []string
	for _, b := range strings.Split(cfg.BaseURL, ",") {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b != "" {
			bases = append(bases, b)
		}
	}
	if len(bases) == 0 {
		return Report{}, errors.New("no base URL")
	}
	rec := newRecorder()
	r := &run{cfg: cfg, rec: rec, c: newClient(bases, max(cfg.Buyers, 64), rec), id: fmt.Sprintf("%x", time.Now().UnixNano())}
	if err := r.login(ctx); err != nil {
		return Report{}, err
	}
	var (
		rep Report
		err error
	)
	switch scenario {
	case "single":
		rep, err = r.single(ctx)
	case "rush":
		rep, err = r.rush(ctx)
	case "contention":
		rep, err = r.contention(ctx)
	case "waitroom":
		rep, err = r.waitroom(ctx)
	default:
		return Report{}, fmt.Errorf("unknown scenario %q (single, rush, contention, waitroom)", scenario)
	}
	if err != nil {
		return rep, err
	}
	rep.Scenario = scenario
	rep.Endpoints, rep.ServerError = rec.endpointReports(func(e string) bool { return e != "POST /auth/register" })
	return rep, nil
}

type run struct {
	cfg   Config
	rec   *recorder
	c     *client
	id    string
	admin string

	pollMu sync.Mutex
	polls  []pollSample
}

type session struct {
	AccessToken string `json:"access_token"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

func (r *run) login(ctx context.Context) error {
	var s session
	if err := r.c.expect(ctx, http.StatusOK, "POST /auth/login", http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"email": r.cfg.AdminEmail, "password": r.cfg.AdminPassword}, &s); err != nil {
		return fmt.Errorf("admin login (set the admin's e-mail and password): %w", err)
	}
	r.admin = s.AccessToken
	return nil
}

// register creates n buyer accounts through the API, a few at a time
// (password hashing is deliberately slow), and returns their tokens.
func (r *run) register(ctx context.Context, n int) ([]session, error) {
	out := make([]session, n)
	var (
		next   atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	go progress(r.cfg.Progress, time.Second, func() string {
		return fmt.Sprintf("registering buyers: %d/%d", min(next.Load(), int64(n)), n)
	}, stop)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				body := map[string]string{
					"email":    fmt.Sprintf("buyer-%s-%d@load.evently.test", r.id, i),
					"password": "load-test-password",
					"name":     fmt.Sprintf("Buyer %d", i),
				}
				if err := r.c.expect(ctx, http.StatusCreated, "POST /auth/register", http.MethodPost,
					"/api/v1/auth/register", "", body, &out[i]); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err, ok := failed.Load().(error); ok {
		return nil, fmt.Errorf("register buyers (is EVENTLY_AUTH_RATE_PER_MINUTE=0 on the server?): %w", err)
	}
	return out, ctx.Err()
}

type eventRef struct {
	ID       string `json:"id"`
	Capacity int    `json:"capacity"`
}

func (r *run) createEvent(ctx context.Context, name string, sections []map[string]any, extra map[string]any) (eventRef, error) {
	body := map[string]any{
		"name":                  name,
		"venue":                 "Load Test Arena",
		"category":              "load-test",
		"starts_at":             time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"status":                "published",
		"max_seats_per_booking": 4,
		// Each virtual buyer stands for many people buying one after
		// another: the limit per buyer must not end their run.
		"max_seats_per_user": 100_000,
		"hold_ttl_seconds":   60,
		"sections":           sections,
	}
	for k, v := range extra {
		body[k] = v
	}
	var e eventRef
	err := r.c.expect(ctx, http.StatusCreated, "POST /admin/events", http.MethodPost, "/api/v1/admin/events", r.admin, body, &e)
	return e, err
}

// floorSale creates the event of the single and rush scenarios, named
// name: one general-admission section of cfg.Seats seats. It registers
// cfg.Buyers buyers for it.
func (r *run) floorSale(ctx context.Context, name string) (eventRef, []session, error) {
	e, err := r.createEvent(ctx, name, []map[string]any{{"name": "Floor", "price_cents": 5000, "capacity": r.cfg.Seats}}, nil)
	if err != nil {
		return eventRef{}, nil, err
	}
	buyers, err := r.register(ctx, r.cfg.Buyers)
	return e, buyers, err
}

func (r *run) check(ctx context.Context, rep *Report, eventID string) error {
	if r.cfg.Invariants == nil {
		return nil
	}
	v, err := r.cfg.Invariants(ctx, eventID)
	if err != nil {
		return fmt.Errorf("check invariants: %w", err)
	}
	rep.Checked, rep.Invariants = true, v
	return nil
}

type bookingRef struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Seats     []struct {
		ID string `json:"id"`
	} `json:"seats"`
}

// hold asks for a hold (POST /bookings) as the buyer of token, with
// body and, when pass is not empty, a waiting-room admission pass; a 201's
// booking goes to bk.
func (c *client) hold(ctx context.Context, token, pass string, body map[string]any, bk *bookingRef) (result, error) {
	var header http.Header
	if pass != "" {
		header = http.Header{"Evently-Admission": {pass}}
	}
	return c.callWith(ctx, "POST /bookings", http.MethodPost, "/api/v1/bookings", token, header, body, bk)
}

// confirm confirms the buyer's hold id (POST /bookings/{id}/confirm):
// true when it is (200).
func (c *client) confirm(ctx context.Context, token, id string) bool {
	res, err := c.call(ctx, "POST /bookings/{id}/confirm", http.MethodPost, "/api/v1/bookings/"+id+"/confirm", token, nil, nil)
	return err == nil && res.status == http.StatusOK
}

// rush: buyers each hold 1–4 general-admission seats and confirm a share
// of their holds (abandoning the rest) until the event is sold out. A buyer
// stops after three sold-out answers in a row, but not while any buyer's
// hold is still open: an abandoned hold gives its seats back.
func (r *run) rush(ctx context.Context) (Report, error) {
	e, buyers, err := r.floorSale(ctx, "Rush "+r.id)
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MaxDuration)
	defer cancel()

	var (
		sold, held, lastSale atomic.Int64
		// open counts holds not yet confirmed or cancelled: while any is
		// open, seats may still come back, so buyers keep trying.
		open atomic.Int64
		// released is when a buyer last cancelled a hold: a "sold out"
		// may lag a release by up to a second (the engine's memo), so
		// buyers keep trying that long after one.
		released atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	stop := make(chan struct{})
	go progress(r.cfg.Progress, 500*time.Millisecond, func() string {
		el := time.Since(start).Seconds()
		return fmt.Sprintf("rush %5.1fs: %d holds (%.0f/s), %d/%d tickets sold", el, held.Load(),
			float64(held.Load())/el, sold.Load(), e.Capacity)
	}, stop)
	for i, b := range buyers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
			soldOut := 0
			for ctx.Err() == nil && (soldOut < 3 || open.Load() > 0 ||
				time.Since(start) < time.Duration(released.Load())+releaseLag) {
				q := 1 + rng.IntN(4)
				var bk bookingRef
				res, err := r.c.hold(ctx, b.AccessToken, "", map[string]any{"event_id": e.ID, "quantity": q}, &bk)
				switch {
				case err != nil:
					return
				case res.status == http.StatusCreated:
					soldOut = 0
					held.Add(1)
					open.Add(1)
					if rng.Float64() < r.cfg.ConfirmRatio {
						if r.c.confirm(ctx, b.AccessToken, bk.ID) {
							sold.Add(int64(len(bk.Seats)))
							lastSale.Store(int64(time.Since(start)))
						}
					} else {
						_, _ = r.c.call(ctx, "POST /bookings/{id}/cancel", http.MethodPost,
							"/api/v1/bookings/"+bk.ID+"/cancel", b.AccessToken, nil, nil)
						released.Store(int64(time.Since(start)))
					}
					open.Add(-1)
				case res.code == "sold_out":
					soldOut++
					time.Sleep(20 * time.Millisecond)
				default:
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)
	sellOut := time.Duration(lastSale.Load())
	rep := Report{
		Started: start, DurationSec: elapsed.Seconds(), Buyers: len(buyers), Seats: e.Capacity,
		Figures: map[string]any{
			"holds":                  held.Load(),
			"holds_per_second":       float64(held.Load()) / sellOut.Seconds(),
			"tickets_sold":           sold.Load(),
			"tickets_per_second":     float64(sold.Load()) / sellOut.Seconds(),
			"time_to_sell_out_s":     sellOut.Seconds(),
			"sold_out":               sold.Load() == int64(e.Capacity),
			"hold_latency_201":       r.rec.latency("POST /bookings", "201"),
			"hold_latency_sold_out":  r.rec.latency("POST /bookings", "409 sold_out"),
			"confirm_latency_200":    r.rec.latency("POST /bookings/{id}/confirm", "200"),
			"confirm_ratio_intended": r.cfg.ConfirmRatio,
		},
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("stopped by the %v limit before selling out", r.cfg.MaxDuration))
	}
	return rep, r.check(context.WithoutCancel(ctx), &rep, e.ID)
}

// releaseLag is how long after a released hold buyers of a rush keep
// asking though told "sold out": the engine's sold-out memo may answer
// from memory for up to a second after seats came back.
const releaseLag = 1200 * time.Millisecond

// contention: buyers pick specific seats among the same few front-row
// seats; losers retry with other seats until every seat is sold.
func (r *run) contention(ctx context.Context) (Report, error) {
	perRow := min(r.cfg.FrontRow, 100)
	rows := max(1, r.cfg.FrontRow/perRow)
	e, err := r.createEvent(ctx, "Front row "+r.id, []map[string]any{
		{"name": "Front", "price_cents": 25000, "rows": rows, "seats_per_row": perRow},
	}, nil)
	if err != nil {
		return Report{}, err
	}
	var seats struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := r.c.expect(ctx, http.StatusOK, "GET /events/{id}/seats", http.MethodGet,
		"/api/v1/events/"+e.ID+"/seats?limit=1000", "", nil, &seats); err != nil {
		return Report{}, err
	}
	buyers, err := r.register(ctx, r.cfg.Buyers)
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MaxDuration)
	defer cancel()

	var (
		sold, winners atomic.Int64
		wg            sync.WaitGroup
	)
	total := int64(len(seats.Data))
	start := time.Now()
	stop := make(chan struct{})
	go progress(r.cfg.Progress, 500*time.Millisecond, func() string {
		return fmt.Sprintf("contention %5.1fs: %d/%d seats sold to %d buyers", time.Since(start).Seconds(),
			sold.Load(), total, winners.Load())
	}, stop)
	for i, b := range buyers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
			for ctx.Err() == nil && sold.Load() < total {
				n := 1 + rng.IntN(2)
				pick := make([]string, 0, n)
				for _, j := range rng.Perm(len(seats.Data))[:n] {
					pick = append(pick, seats.Data[j].ID)
				}
				var bk bookingRef
				res, err := r.c.hold(ctx, b.AccessToken, "", map[string]any{"event_id": e.ID, "seat_ids": pick}, &bk)
				if err != nil {
					return
				}
				if res.status != http.StatusCreated {
					continue
				}
				if r.c.confirm(ctx, b.AccessToken, bk.ID) {
					sold.Add(int64(len(bk.Seats)))
					winners.Add(1)
				}
				return // one purchase per buyer
			}
		})
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)
	rep := Report{
		Started: start, DurationSec: elapsed.Seconds(), Buyers: len(buyers), Seats: int(total),
		Figures: map[string]any{
			"seats_sold":          sold.Load(),
			"winners":             winners.Load(),
			"time_to_sell_out_s":  elapsed.Seconds(),
			"winner_latency":      r.rec.latency("POST /bookings", "201"),
			"loser_latency":       r.rec.latency("POST /bookings", "409 seat_unavailable"),
			"hold_attempts":       r.rec.total("POST /bookings"),
			"refused_seat_taken":  r.rec.count("POST /bookings", "409 seat_unavailable"),
			"confirm_latency_200": r.rec.latency("POST /bookings/{id}/confirm", "200"),
		},
	}
	return rep, r.check(context.WithoutCancel(ctx), &rep, e.ID)
}
