package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/notify"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
)

// recordWebhook inserts a webhook as a committed change would have, at.
func recordWebhook(t *testing.T, pool *pgxpool.Pool, typ string, at time.Time) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(context.Background(), `INSERT INTO webhooks (id, type, subject_id, body, created_at)
		VALUES ($1, $2, gen_random_uuid(), $3, $4)`, id, typ, `{"id":"`+id.String()+`"}`, at); err != nil {
		t.Fatal(err)
	}
	return id
}

func newEndpoint(t *testing.T, s *notify.Endpoints, types ...string) notify.Endpoint {
	t.Helper()
	e, err := s.Create(context.Background(), notify.EndpointInput{URL: "https://hooks.example.com/" + uuid.NewString(), Types: types})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRecordAttempt walks a webhook delivery through its states: a failed
// attempt keeps it pending with the error, the last failed attempt fails
// it, a success delivers it, a skipped one (endpoint disabled) fails it
// without counting, and a delivery that is no longer pending records
// nothing more.
func TestRecordAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewWebhookStore(pool)
	newEndpoint(t, notify.NewEndpoints(store, nil), "*")
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	var hooks []uuid.UUID
	for range 3 {
		hooks = append(hooks, recordWebhook(t, pool, "booking.held", created))
	}
	ids, err := store.FanOut(ctx, hooks, created)
	if err != nil || len(ids) != 3 {
		t.Fatalf("FanOut() = %v, %v; want 3 deliveries", ids, err)
	}
	failing, ok, skipped := ids[0], ids[1], ids[2]
	now := time.Now().UTC().Truncate(time.Microsecond)
	steps := []struct {
		id      uuid.UUID
		attempt notify.Attempt
		status  notify.DeliveryStatus
		tries   int
		lastErr string
	}{
		{failing, notify.Attempt{At: now, Error: "HTTP 500"}, notify.DeliveryPending, 1, "HTTP 500"},
		{failing, notify.Attempt{At: now, Error: "timeout", Final: true}, notify.DeliveryFailed, 2, "timeout"},
		{failing, notify.Attempt{At: now, OK: true}, notify.DeliveryFailed, 2, "timeout"},
		{ok, notify.Attempt{At: now, Error: "HTTP 502"}, notify.DeliveryPending, 1, "HTTP 502"},
		{ok, notify.Attempt{At: now, OK: true}, notify.DeliveryDelivered, 2, ""},
		{ok, notify.Attempt{At: now, Error: "HTTP 500", Final: true}, notify.DeliveryDelivered, 2, ""},
		{skipped, notify.Attempt{At: now, Error: "endpoint disabled", Final: true, Skipped: true}, notify.DeliveryFailed, 0, "endpoint disabled"},
	}
	for i, s := range steps {
		if err := store.RecordAttempt(ctx, s.id, s.attempt); err != nil {
			t.Fatal(err)
		}
		d, ep, err := store.Delivery(ctx, s.id)
		if err != nil || ep == nil {
			t.Fatalf("Delivery() = %v, endpoint %v", err, ep)
		}
		lastErr := ""
		if d.LastError != nil {
			lastErr = *d.LastError
		}
		if d.Status != s.status || d.Attempts != s.tries || lastErr != s.lastErr || string(d.Body) != `{"id":"`+d.WebhookID.String()+`"}` {
			t.Errorf("step %d: %s, %d attempts, last error %q; want %s, %d, %q", i, d.Status, d.Attempts, lastErr, s.status, s.tries, s.lastErr)
		}
		if (d.Status == notify.DeliveryDelivered) != (d.DeliveredAt != nil) {
			t.Errorf("step %d: status %s with delivered_at %v", i, d.Status, d.DeliveredAt)
		}
	}
	failed := notify.DeliveryFailed
	list, err := store.Deliveries(ctx, notify.DeliveryFilter{Status: &failed, Limit: 10})
	if err != nil || len(list) != 2 || !slices.ContainsFunc(list, func(d notify.Delivery) bool { return d.ID == failing }) {
		t.Errorf("failed deliveries = %+v, %v", list, err)
	}
	if _, _, err := store.Delivery(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("unknown delivery: %v", err)
	}
	if stalled, err := store.Stalled(ctx, time.Now(), time.Now(), 10); err != nil || len(stalled) != 0 {
		t.Errorf("stalled = %v, %v; want none (nothing is pending)", stalled, err)
	}
}

// TestFanOut: a webhook gets one delivery per enabled endpoint that
// receives its type, once however often it is fanned out; deliveries with
// no attempt yet are handed out again (their tasks may be lost), those
// attempted are not; disabling or deleting an endpoint fails its pending
// deliveries, and a deleted endpoint's deliveries stay listed without it.
func TestFanOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewWebhookStore(pool)
	endpoints := notify.NewEndpoints(store, nil)
	all := newEndpoint(t, endpoints, "*")
	held := newEndpoint(t, endpoints, "booking.held", "booking.confirmed")
	cancelled := newEndpoint(t, endpoints, "event.cancelled")
	off := newEndpoint(t, endpoints, "booking.held")
	no := false
	if _, err := endpoints.Update(ctx, off.ID, notify.EndpointPatch{Enabled: &no}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	h1, h2 := recordWebhook(t, pool, "booking.held", now), recordWebhook(t, pool, "booking.expired", now)
	ids, err := store.FanOut(ctx, []uuid.UUID{h1, h2}, now)
	if err != nil || len(ids) != 3 {
		t.Fatalf("FanOut() = %v, %v; want 3 deliveries (held: 2 endpoints, expired: 1)", ids, err)
	}
	to := map[uuid.UUID][]string{}
	for _, id := range ids {
		d, ep, err := store.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		to[ep.ID] = append(to[ep.ID], d.Type)
	}
	if len(to[all.ID]) != 2 || len(to[held.ID]) != 1 || to[held.ID][0] != "booking.held" || len(to[cancelled.ID])+len(to[off.ID]) != 0 {
		t.Errorf("deliveries by endpoint = %v", to)
	}

	// Again: nothing new; the unattempted deliveries are handed out again,
	// the attempted one is not.
	if err := store.RecordAttempt(ctx, ids[0], notify.Attempt{At: now, Error: "HTTP 500"}); err != nil {
		t.Fatal(err)
	}
	again, err := store.FanOut(ctx, []uuid.UUID{h1, h2}, now)
	if want := sortIDs(slices.Clone(ids[1:])); err != nil || !slices.Equal(sortIDs(again), want) {
		t.Errorf("second FanOut() = %v, %v; want %v", again, err, want)
	}
	// A new endpoint does not receive webhooks fanned out before it.
	newEndpoint(t, endpoints, "*")
	if again, _ := store.FanOut(ctx, []uuid.UUID{h1}, now); len(again) != 1 {
		t.Errorf("FanOut() after a new endpoint = %v, want the one unattempted delivery of h1", again)
	}
	if n, err := store.Unsent(ctx, now.Add(time.Hour), 10); err != nil || len(n) != 0 {
		t.Errorf("Unsent() = %v, %v; want none", n, err)
	}

	// Deleting "all" fails its pending deliveries and keeps them, without it.
	if err := endpoints.Delete(ctx, all.ID); err != nil {
		t.Fatal(err)
	}
	list, err := store.Deliveries(ctx, notify.DeliveryFilter{Limit: 10})
	if err != nil || len(list) != 3 {
		t.Fatalf("Deliveries() = %d, %v", len(list), err)
	}
	orphans := 0
	for _, d := range list {
		switch {
		case d.EndpointID == nil:
			orphans++
			if d.Status != notify.DeliveryFailed || d.LastError == nil || *d.LastError != "endpoint deleted" {
				t.Errorf("delivery to the deleted endpoint = %s %v", d.Status, d.LastError)
			}
			if _, err := store.Redeliver(ctx, d.ID, now); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("Redeliver() to a deleted endpoint = %v, want conflict", err)
			}
		case d.Status != notify.DeliveryPending:
			t.Errorf("delivery to a kept endpoint = %s", d.Status)
		}
	}
	if orphans != 2 {
		t.Errorf("%d deliveries lost their endpoint, want 2", orphans)
	}
	if err := endpoints.Delete(ctx, all.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("deleting twice = %v, want not_found", err)
	}
	// Disabling "held" fails its pending delivery.
	if _, err := endpoints.Update(ctx, held.ID, notify.EndpointPatch{Enabled: &no}); err != nil {
		t.Fatal(err)
	}
	heldOnly := held.ID
	list, _ = store.Deliveries(ctx, notify.DeliveryFilter{EndpointID: &heldOnly, Limit: 10})
	if len(list) != 1 || list[0].Status != notify.DeliveryFailed || *list[0].LastError != "endpoint disabled" {
		t.Errorf("deliveries of the disabled endpoint = %+v", list)
	}
	if _, err := store.Redeliver(ctx, list[0].ID, now); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("Redeliver() to a disabled endpoint = %v, want conflict", err)
	}
	yes := true
	if _, err := endpoints.Update(ctx, held.ID, notify.EndpointPatch{Enabled: &yes}); err != nil {
		t.Fatal(err)
	}
	re, err := store.Redeliver(ctx, list[0].ID, now)
	if err != nil || re.ID == list[0].ID || re.WebhookID != list[0].WebhookID || *re.RedeliveryOf != list[0].ID ||
		re.Status != notify.DeliveryPending || re.Attempts != 0 || string(re.Body) != string(list[0].Body) {
		t.Errorf("Redeliver() = %+v, %v", re, err)
	}
}

func sortIDs(ids []uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// TestRecording: stores record webhooks only while some endpoint is
// enabled, and only the types an enabled endpoint receives.
func TestRecording(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewWebhookStore(pool)
	if err := store.CheckRecording(ctx); err != nil || store.Recording() {
		t.Fatalf("Recording() with no endpoint = true (%v)", err)
	}
	endpoints := notify.NewEndpoints(store, nil)
	e := newEndpoint(t, endpoints, "booking.held")
	if !store.Recording() {
		t.Error("Recording() = false after an endpoint was created")
	}
	no := false
	if _, err := endpoints.Update(ctx, e.ID, notify.EndpointPatch{Enabled: &no}); err != nil {
		t.Fatal(err)
	}
	if store.Recording() {
		t.Error("Recording() = true with the only endpoint disabled")
	}
	// Another replica's change is seen within a few seconds.
	if _, err := pool.Exec(ctx, `UPDATE webhook_endpoints SET enabled = true`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !store.Recording() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !store.Recording() {
		t.Error("Recording() did not see an endpoint enabled behind its back within 5s")
	}
}

// TestBootstrapEndpoint: the environment's endpoint is made once, left
// alone when nothing changed, keeps a changed secret's predecessor signing
// for a day, and is disabled when the environment drops it.
func TestBootstrapEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewWebhookStore(pool)
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	endpoints := notify.NewEndpoints(store, clock)
	get := func() notify.Endpoint {
		t.Helper()
		list, err := endpoints.List(ctx, uuid.Nil, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("endpoints = %+v, %v; want the bootstrap one", list, err)
		}
		return list[0]
	}
	for range 2 {
		if err := endpoints.Bootstrap(ctx, "http://127.0.0.1:9/hooks", "s3cret-one"); err != nil {
			t.Fatal(err)
		}
	}
	first := get()
	if !first.Bootstrap || !first.Enabled || first.Secret.Reveal() != "s3cret-one" || first.PreviousSecret != "" ||
		len(first.Types) != 1 || first.Types[0] != "*" {
		t.Fatalf("bootstrap endpoint = %+v", first)
	}
	now = now.Add(time.Minute)
	if err := endpoints.Bootstrap(ctx, "http://127.0.0.1:9/hooks", "s3cret-one"); err != nil {
		t.Fatal(err)
	}
	if e := get(); !e.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("an unchanged environment touched the endpoint (updated_at %v → %v)", first.UpdatedAt, e.UpdatedAt)
	}
	if err := endpoints.Bootstrap(ctx, "http://127.0.0.1:9/other", "s3cret-two"); err != nil {
		t.Fatal(err)
	}
	e := get()
	if e.ID != first.ID || e.URL != "http://127.0.0.1:9/other" || e.Secret.Reveal() != "s3cret-two" ||
		e.PreviousSecret.Reveal() != "s3cret-one" || !e.PreviousExpiresAt.Equal(now.Add(notify.DefaultOverlap)) {
		t.Errorf("after a new secret: %+v (previous until %v)", e, e.PreviousExpiresAt)
	}
	if err := endpoints.Bootstrap(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if e := get(); e.Enabled || store.Recording() {
		t.Errorf("without EVENTLY_WEBHOOK_URL the endpoint stays enabled: %+v", e)
	}
}
