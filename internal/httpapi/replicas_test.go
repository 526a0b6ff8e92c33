package httpapi_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/worker"
)

// TestThreeReplicas runs three Evently processes (three HTTP servers,
// asynq servers and cron schedulers) on one database and one Redis (a
// Redis Cluster in make test's cluster pass), with buyers spread over
// them, and checks that they behave as one: no seat is sold twice and the
// database's invariants hold; the hold ration and the auth rate limit are
// one budget, not one per process; the waiting room admits at its rate,
// not three times it; the cleanup job runs once per schedule slot, not once
// per process; and every webhook is delivered once.
func TestThreeReplicas(t *testing.T) {
	t.Parallel()
	const (
		authPerMinute = 5
		holdPerMinute = 3
		admitPerMin   = 120 // two a second
	)
	rc := newReceiver(t, "whsec_replicas", func(string, int) int { return http.StatusNoContent })
	db, rdb := pgtest.NewURL(t), redistest.NewURL(t)
	shared := []apptest.Option{
		apptest.WithEnv("DATABASE_URL", db), apptest.WithEnv("REDIS_URL", rdb),
		apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL+"/hooks"), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", "whsec_replicas"),
		apptest.WithEnv("EVENTLY_CLEANUP_SCHEDULE", "@every 1s"),
		apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "5"),
		apptest.WithEnv("EVENTLY_HOLD_RATE_PER_MINUTE", "3"),
	}
	f := newFixture(t, shared...)
	envs := []*apptest.Env{f.env, apptest.Start(t, shared...), apptest.Start(t, shared...)}
	on := func(i int) *apptest.Env { return envs[i%len(envs)] }

	var holds, confirms int // the webhooks to expect
	t.Run("no seat sold twice", func(t *testing.T) {
		e := f.publish(t, gaEvent(60))
		buyers := f.buyers(t, 150)
		rs := make([]*apptest.Response, len(buyers))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, tok := range buyers {
			wg.Go(func() {
				<-start
				rs[i] = on(i).Post(t, "/api/v1/bookings", tok, map[string]any{"event_id": e.ID, "quantity": 1})
			})
		}
		close(start)
		wg.Wait()
		held, codes := tally(t, rs)
		if len(held) != 60 || codes["sold_out"]+codes["seat_unavailable"] != 90 {
			t.Errorf("150 buyers over 3 replicas for 60 seats: %d holds and %v, want 60 and 90 refusals", len(held), codes)
		}
		holds += len(held)
		// Each confirmation goes to another replica than its hold.
		owner := map[string]int{}
		for i, r := range rs {
			if r.Status == http.StatusCreated {
				var b bookingJSON
				r.Decode(t, &b)
				owner[b.ID] = i
			}
		}
		for id, i := range owner {
			if r := on(i+1).Post(t, "/api/v1/bookings/"+id+"/confirm", buyers[i], nil); r.Status != http.StatusOK {
				t.Errorf("confirm on another replica = %d %s", r.Status, r.Body)
			} else {
				confirms++
			}
		}
		f.noSeatTwice(t, e.ID, held)
	})

	t.Run("one hold ration", func(t *testing.T) {
		e := f.publish(t, gaEvent(20))
		buyer := f.buyers(t, 1)[0]
		statuses := make([]int, 0, holdPerMinute+3)
		for i := range holdPerMinute + 3 {
			r := on(i).Post(t, "/api/v1/bookings", buyer, map[string]any{"event_id": e.ID, "quantity": 1})
			statuses = append(statuses, r.Status)
			if r.Status == http.StatusCreated {
				holds++
			} else if p := r.Problem(t); r.Status != http.StatusTooManyRequests || p.Code != "rate_limited" {
				t.Errorf("hold %d = %d %s, want 201 or 429 rate_limited", i+1, r.Status, p.Code)
			}
		}
		if n := count(statuses, http.StatusCreated); n != holdPerMinute {
			t.Errorf("one buyer's holds over 3 replicas: %v, want %d accepted (one budget), not %d", statuses, holdPerMinute, 3*holdPerMinute)
		}
	})

	t.Run("one auth rate limit", func(t *testing.T) {
		statuses := make([]int, 0, authPerMinute+4)
		for i := range authPerMinute + 4 {
			r := on(i).Post(t, "/api/v1/auth/refresh", "", map[string]any{"refresh_token": "not-a-token-" + uuid.NewString()})
			statuses = append(statuses, r.Status)
		}
		if n := len(statuses) - count(statuses, http.StatusTooManyRequests); n != authPerMinute {
			t.Errorf("one address's /auth/refresh over 3 replicas: %v, want %d let through (one budget), not %d", statuses, authPerMinute, 3*authPerMinute)
		}
	})

	t.Run("waiting room rate and cleanup slots", func(t *testing.T) {
		r := f.env.Post(t, "/api/v1/admin/events", f.admin, eventBody(set("status", "published"),
			withRoom(map[string]any{"enabled": true, "admit_per_minute": admitPerMin})))
		if r.Status != http.StatusCreated {
			t.Fatalf("create event = %d %s", r.Status, r.Body)
		}
		var e eventJSON
		r.Decode(t, &e)
		for i := range 90 {
			env := on(i)
			joinRoom(t, env, env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser}), e.ID)
		}
		inspector := newInspector(t, envs[0])
		time.Sleep(2 * time.Second)
		from := roomStats(t, envs[0], f.admin, e.ID)
		cleanups := processed(t, inspector, worker.QueueCleanup)
		start := time.Now()
		time.Sleep(8 * time.Second)
		to := roomStats(t, envs[2], f.admin, e.ID)
		ran := processed(t, inspector, worker.QueueCleanup) - cleanups
		elapsed := time.Since(start)

		got := to.AdmittedTotal - from.AdmittedTotal
		want := float64(admitPerMin) * elapsed.Minutes()
		t.Logf("three replicas admitted %d in %v at %d/min (%.1f expected); cleanup ran %d times in %.0f one-second slots",
			got, elapsed.Round(time.Millisecond), admitPerMin, want, ran, elapsed.Seconds())
		if float64(got) > want*1.25+2 || float64(got) < want*0.75 {
			t.Errorf("three replicas admitted %d in %v, want about %.0f (%d/min, not three times it)", got, elapsed, want, admitPerMin)
		}
		if to.AdmittedLastMinute > admitPerMin {
			t.Errorf("admitted %d in the last minute, want at most %d", to.AdmittedLastMinute, admitPerMin)
		}
		// Every replica's cron fires each second; the slot's task id lets
		// one enqueue land. Three per slot would be ~3× the slots.
		slots := int64(elapsed.Seconds())
		if ran > slots+2 || ran < 2 {
			t.Errorf("cleanup ran %d times in %d one-second slots over 3 replicas, want one per slot", ran, slots)
		}
	})

	t.Run("every webhook once", func(t *testing.T) {
		eventually(t, 30*time.Second, "every booking webhook delivered", func() bool {
			got := rc.delivered()
			return len(got["booking.held"]) >= holds && len(got["booking.confirmed"]) >= confirms
		})
		time.Sleep(time.Second) // a duplicate would arrive by now
		got := rc.delivered()
		if len(got["booking.held"]) != holds || len(got["booking.confirmed"]) != confirms {
			t.Errorf("delivered %d booking.held and %d booking.confirmed, want %d and %d",
				len(got["booking.held"]), len(got["booking.confirmed"]), holds, confirms)
		}
		seen := map[string]int{}
		for _, h := range rc.snapshot() {
			seen[h.id]++
			if h.verified != nil {
				t.Errorf("webhook %s: %v", h.id, h.verified)
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("webhook %s delivered %d times, want once", id, n)
			}
		}
	})
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// newInspector reads env's asynq queues, on its Redis or Redis Cluster.
func newInspector(t *testing.T, env *apptest.Env) *asynq.Inspector {
	t.Helper()
	rdb, _, err := redis.NewClient(env.Config.RedisURL, env.Config.RedisCluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return asynq.NewInspectorFromRedisClient(rdb)
}

// processed is how many tasks of queue have finished today.
func processed(t *testing.T, in *asynq.Inspector, queue string) int64 {
	t.Helper()
	info, err := in.GetQueueInfo(queue)
	if err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	}
	return int64(info.Processed)
}
