package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
)

// webhookEndpointJSON is a WebhookEndpoint (with its secret in the
// answers that show it).
type webhookEndpointJSON struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	Types                   []string   `json:"types"`
	Enabled                 bool       `json:"enabled"`
	Bootstrap               bool       `json:"bootstrap"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	Secret                  string     `json:"secret"`
}

// addEndpoint registers an endpoint through the API and returns it with
// its secret.
func (f *fixture) addEndpoint(t *testing.T, url string, types ...string) webhookEndpointJSON {
	t.Helper()
	r := f.env.Post(t, "/api/v1/admin/webhooks", f.admin, map[string]any{"url": url, "types": types, "description": "test"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create endpoint = %d %s", r.Status, r.Body)
	}
	var e webhookEndpointJSON
	r.Decode(t, &e)
	if e.Secret == "" || r.Header.Get("Location") != "/api/v1/admin/webhooks/"+e.ID {
		t.Fatalf("create endpoint answered %s (Location %q)", r.Body, r.Header.Get("Location"))
	}
	return e
}

func (f *fixture) patchEndpoint(t *testing.T, id string, body map[string]any) webhookEndpointJSON {
	t.Helper()
	r := f.env.Do(t, apptest.Request{Method: "PATCH", Path: "/api/v1/admin/webhooks/" + id, Token: f.admin, Body: body})
	if r.Status != http.StatusOK {
		t.Fatalf("PATCH endpoint %v = %d %s", body, r.Status, r.Body)
	}
	var e webhookEndpointJSON
	r.Decode(t, &e)
	return e
}

// deliveries lists every delivery, optionally of one endpoint.
func (f *fixture) deliveries(t *testing.T, query string) []webhookDeliveryJSON {
	t.Helper()
	list, _ := listAll[webhookDeliveryJSON](t, f.env, "/api/v1/admin/webhooks/deliveries?limit=5"+query, f.admin)
	return list
}

func always(status int) func(string, int) int { return func(string, int) int { return status } }

// TestWebhookEndpoints: each endpoint receives the webhooks of the types it
// lists, signed with its own secret only (two endpoints: each verifies its
// own signature and not the other's); a disabled endpoint receives
// nothing; every endpoint gets the same webhook ids and bodies; operators
// see one delivery per webhook and endpoint, and an endpoint's alone.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := newReceiver(t, "", always(http.StatusOK)), newReceiver(t, "", always(http.StatusOK))
	confirmedOnly, off := newReceiver(t, "", always(http.StatusOK)), newReceiver(t, "", always(http.StatusOK))
	epA, epB := f.addEndpoint(t, a.URL+"/a", "*"), f.addEndpoint(t, b.URL+"/b", "*")
	epC := f.addEndpoint(t, confirmedOnly.URL, "booking.confirmed")
	epD := f.addEndpoint(t, off.URL, "*")
	if epA.Secret == epB.Secret || !strings.HasPrefix(epA.Secret, "whsec_") {
		t.Fatalf("secrets %q and %q: want two distinct whsec_ keys", epA.Secret, epB.Secret)
	}
	if d := f.patchEndpoint(t, epD.ID, map[string]any{"enabled": false}); d.Enabled || d.Secret != "" {
		t.Fatalf("disabled endpoint = %+v", d)
	}

	e := f.publish(t, gaEvent(2))
	buyer := f.buyers(t, 1)[0]
	held := f.buy(t, buyer, e.ID, 1)
	f.cancel(t, buyer, held.ID)
	want := []string{"booking.cancelled", "booking.confirmed", "booking.held"}
	types := func(rc *receiver) []string {
		var out []string
		for _, h := range rc.snapshot() {
			out = append(out, h.typ)
		}
		slices.Sort(out)
		return out
	}
	eventually(t, 15*time.Second, "every webhook at both endpoints", func() bool {
		return slices.Equal(types(a), want) && slices.Equal(types(b), want) && len(types(confirmedOnly)) == 1
	})
	time.Sleep(time.Second) // anything more would come now

	for name, c := range map[string]struct {
		rc          *receiver
		own, others []string
	}{
		"a": {a, []string{epA.Secret}, []string{epB.Secret, epC.Secret}},
		"b": {b, []string{epB.Secret}, []string{epA.Secret, epC.Secret}},
		"c": {confirmedOnly, []string{epC.Secret}, []string{epA.Secret, epB.Secret}},
	} {
		for _, h := range c.rc.snapshot() {
			if err := verifySignature(c.own[0], h.signature, h.body); err != nil {
				t.Errorf("%s: %s does not verify with its endpoint's secret: %v", name, h.typ, err)
			}
			for _, other := range c.others {
				if verifySignature(other, h.signature, h.body) == nil {
					t.Errorf("%s: %s verifies with another endpoint's secret", name, h.typ)
				}
			}
		}
	}
	if got := types(confirmedOnly); !slices.Equal(got, []string{"booking.confirmed"}) {
		t.Errorf("booking.confirmed endpoint got %v", got)
	}
	if n := len(off.snapshot()); n != 0 {
		t.Errorf("disabled endpoint got %d webhooks", n)
	}
	// One webhook, the same at every endpoint.
	for _, h := range a.snapshot() {
		same := b.attempts(h.id)
		if len(same) != 1 || string(same[0].body) != string(h.body) {
			t.Errorf("%s %s reached b %d times, or with another body", h.typ, h.id, len(same))
		}
	}

	all := f.deliveries(t, "")
	if len(all) != 7 {
		t.Errorf("%d deliveries, want 7 (3 types × 2 endpoints + 1)", len(all))
	}
	perEndpoint := map[string]int{}
	for _, d := range all {
		if d.EndpointID == nil || d.Status != "delivered" || d.Attempts != 1 || d.RedeliveryOf != nil {
			t.Errorf("delivery %+v", d)
			continue
		}
		perEndpoint[*d.EndpointID]++
	}
	if perEndpoint[epA.ID] != 3 || perEndpoint[epB.ID] != 3 || perEndpoint[epC.ID] != 1 || perEndpoint[epD.ID] != 0 {
		t.Errorf("deliveries per endpoint = %v", perEndpoint)
	}
	if only := f.deliveries(t, "&endpoint_id="+epC.ID); len(only) != 1 || only[0].Type != "booking.confirmed" {
		t.Errorf("deliveries of the booking.confirmed endpoint = %+v", only)
	}
	wantProblem(t, "bad endpoint_id", f.env.Get(t, "/api/v1/admin/webhooks/deliveries?endpoint_id=x", f.admin), 400, "validation_failed", "endpoint_id")
}

// TestWebhookEndpointResource: create, read, list, change and delete
// endpoints; bad input is refused field by field; secrets are shown only
// when made, and URL secrets never.
func TestWebhookEndpointResource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created := f.addEndpoint(t, "https://hooks.example.com/in?token=s3cr3t-tok&team=7", "booking.held", "booking.held", "event.cancelled")
	if !slices.Equal(created.Types, []string{"booking.held", "event.cancelled"}) || !created.Enabled || created.Bootstrap ||
		created.URL != "https://hooks.example.com/in?token=xxxxx&team=7" || created.PreviousSecretExpiresAt != nil {
		t.Errorf("created %+v", created)
	}
	second := f.addEndpoint(t, "http://127.0.0.1:1/second", "*")

	r := f.env.Get(t, "/api/v1/admin/webhooks/"+created.ID, f.admin)
	var got webhookEndpointJSON
	r.Decode(t, &got)
	if r.Status != 200 || got.ID != created.ID || got.Description != "test" || strings.Contains(string(r.Body), "secret\"") ||
		strings.Contains(string(r.Body), "s3cr3t") || strings.Contains(string(r.Body), created.Secret) {
		t.Errorf("GET endpoint = %d %s", r.Status, r.Body)
	}
	list, pages := listAll[webhookEndpointJSON](t, f.env, "/api/v1/admin/webhooks?limit=1", f.admin)
	if len(list) != 2 || pages != 2 || list[0].ID != created.ID || list[1].ID != second.ID || list[0].Secret != "" {
		t.Errorf("list = %+v in %d pages", list, pages)
	}

	changed := f.patchEndpoint(t, created.ID, map[string]any{"url": "https://hooks.example.com/v2", "types": []string{"*"}, "description": ""})
	if changed.URL != "https://hooks.example.com/v2" || !slices.Equal(changed.Types, []string{"*"}) || changed.Description != "" || !changed.Enabled {
		t.Errorf("changed %+v", changed)
	}

	path := "/api/v1/admin/webhooks"
	for _, c := range []struct {
		name   string
		method string
		body   any
		field  string
	}{
		{"no url", "POST", map[string]any{"types": []string{"*"}}, "url"},
		{"relative url", "POST", map[string]any{"url": "/hooks", "types": []string{"*"}}, "url"},
		{"no types", "POST", map[string]any{"url": "https://e.com"}, "types"},
		{"unknown type", "POST", map[string]any{"url": "https://e.com", "types": []string{"booking.paid"}}, "types"},
		{"unknown field", "POST", map[string]any{"url": "https://e.com", "types": []string{"*"}, "secret": "mine"}, "secret"},
		{"enabled on create", "POST", map[string]any{"url": "https://e.com", "types": []string{"*"}, "enabled": false}, "enabled"},
		{"empty types", "PATCH", map[string]any{"types": []string{}}, "types"},
		{"ftp url", "PATCH", map[string]any{"url": "ftp://e.com/x"}, "url"},
		{"NUL in description", "PATCH", map[string]any{"description": "a\x00b"}, "description"},
	} {
		p := path
		if c.method == "PATCH" {
			p += "/" + created.ID
		}
		wantProblem(t, c.name, f.env.Do(t, apptest.Request{Method: c.method, Path: p, Token: f.admin, Body: c.body}), 400, "validation_failed", c.field)
	}
	wantProblem(t, "user", f.env.Get(t, path, f.user), 403, "forbidden")
	wantProblem(t, "anonymous", f.env.Post(t, path, "", map[string]any{"url": "https://e.com", "types": []string{"*"}}), 401, "unauthorized")
	wantProblem(t, "unknown id", f.env.Get(t, path+"/0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", f.admin), 404, "not_found")
	wantProblem(t, "not a uuid", f.env.Get(t, path+"/nope", f.admin), 404, "not_found")

	f.env.Do(t, apptest.Request{Method: "DELETE", Path: path + "/" + created.ID, Token: f.admin}).Want(t, http.StatusNoContent)
	wantProblem(t, "deleted", f.env.Get(t, path+"/"+created.ID, f.admin), 404, "not_found")
	wantProblem(t, "deleted twice", f.env.Do(t, apptest.Request{Method: "DELETE", Path: path + "/" + created.ID, Token: f.admin}), 404, "not_found")
}

// TestWebhookRedelivery: a delivered webhook is sent again on request —
// the same webhook id and body, as a new delivery naming the first.
func TestWebhookRedelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t, "", always(http.StatusNoContent))
	ep := f.addEndpoint(t, rc.URL, "booking.held")
	e := f.publish(t, gaEvent(1))
	f.hold(t, f.buyers(t, 1)[0], map[string]any{"event_id": e.ID, "quantity": 1})
	eventually(t, 10*time.Second, "the webhook", func() bool { return len(rc.snapshot()) == 1 })
	first := f.deliveries(t, "")[0]

	r := f.env.Post(t, "/api/v1/admin/webhooks/deliveries/"+first.ID+"/redeliver", f.admin, nil)
	var again webhookDeliveryJSON
	r.Decode(t, &again)
	if r.Status != http.StatusAccepted || again.ID == first.ID || again.WebhookID != first.WebhookID ||
		again.RedeliveryOf == nil || *again.RedeliveryOf != first.ID || again.Status != "pending" || again.Attempts != 0 {
		t.Fatalf("redeliver = %d %s", r.Status, r.Body)
	}
	eventually(t, 10*time.Second, "the redelivery", func() bool { return len(rc.snapshot()) == 2 })
	hits := rc.snapshot()
	if hits[1].id != hits[0].id || hits[1].id != first.WebhookID || string(hits[1].body) != string(hits[0].body) {
		t.Errorf("redelivered %s %s, want the same webhook id and body as %s %s", hits[1].id, hits[1].body, hits[0].id, hits[0].body)
	}
	for _, h := range hits {
		if err := verifySignature(ep.Secret, h.signature, h.body); err != nil {
			t.Errorf("%s: %v", h.id, err)
		}
	}
	eventually(t, 5*time.Second, "the redelivery recorded", func() bool {
		list := f.deliveries(t, "")
		return len(list) == 2 && list[0].ID == again.ID && list[0].Status == "delivered" && list[1].Status == "delivered"
	})

	wantProblem(t, "unknown delivery", f.env.Post(t, "/api/v1/admin/webhooks/deliveries/0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d/redeliver", f.admin, nil), 404, "not_found")
	f.patchEndpoint(t, ep.ID, map[string]any{"enabled": false})
	wantProblem(t, "disabled endpoint", f.env.Post(t, "/api/v1/admin/webhooks/deliveries/"+first.ID+"/redeliver", f.admin, nil), 409, "conflict")
	wantProblem(t, "user", f.env.Post(t, "/api/v1/admin/webhooks/deliveries/"+first.ID+"/redeliver", f.user, nil), 403, "forbidden")
}

// TestWebhookSecretRotation: after a rotation the new secret verifies;
// during the overlap asked for, the former one does too (a second v1);
// with no overlap, it stops at once. The new secret is shown once.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t, "", always(http.StatusOK))
	ep := f.addEndpoint(t, rc.URL, "booking.held")
	e := f.publish(t, gaEvent(10))
	buyer := f.buyers(t, 1)[0]
	rotate := func(body any) webhookEndpointJSON {
		t.Helper()
		r := f.env.Post(t, "/api/v1/admin/webhooks/"+ep.ID+"/rotate-secret", f.admin, body)
		if r.Status != http.StatusOK {
			t.Fatalf("rotate-secret %v = %d %s", body, r.Status, r.Body)
		}
		var out webhookEndpointJSON
		r.Decode(t, &out)
		return out
	}
	nextHit := func() hit {
		t.Helper()
		n := len(rc.snapshot())
		f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
		eventually(t, 10*time.Second, "a webhook", func() bool { return len(rc.snapshot()) == n+1 })
		return rc.snapshot()[n]
	}

	h := nextHit()
	if verifySignature(ep.Secret, h.signature, h.body) != nil || strings.Count(h.signature, "v1=") != 1 {
		t.Fatalf("before rotation: %q", h.signature)
	}
	overlapping := rotate(map[string]any{"overlap_seconds": 3600})
	if overlapping.Secret == "" || overlapping.Secret == ep.Secret || overlapping.PreviousSecretExpiresAt == nil ||
		time.Until(*overlapping.PreviousSecretExpiresAt) < 59*time.Minute || time.Until(*overlapping.PreviousSecretExpiresAt) > time.Hour {
		t.Fatalf("rotated = %+v", overlapping)
	}
	h = nextHit()
	if verifySignature(overlapping.Secret, h.signature, h.body) != nil || verifySignature(ep.Secret, h.signature, h.body) != nil {
		t.Errorf("during the overlap %q verifies with the new and the former secret: %v, %v", h.signature,
			verifySignature(overlapping.Secret, h.signature, h.body), verifySignature(ep.Secret, h.signature, h.body))
	}

	abrupt := rotate(nil) // no body: the default overlap…
	if abrupt.PreviousSecretExpiresAt == nil || time.Until(*abrupt.PreviousSecretExpiresAt) < 23*time.Hour {
		t.Errorf("default overlap ends %v, want in 24 hours", abrupt.PreviousSecretExpiresAt)
	}
	abrupt = rotate(map[string]any{"overlap_seconds": 0}) // …and none
	h = nextHit()
	if verifySignature(abrupt.Secret, h.signature, h.body) != nil || strings.Count(h.signature, "v1=") != 1 {
		t.Errorf("after a rotation without overlap: %q does not verify with the new secret alone", h.signature)
	}
	for _, old := range []string{ep.Secret, overlapping.Secret} {
		if verifySignature(old, h.signature, h.body) == nil {
			t.Errorf("a rotated-out secret still verifies after a rotation without overlap")
		}
	}
	if abrupt.PreviousSecretExpiresAt != nil {
		t.Errorf("previous_secret_expires_at = %v after a rotation without overlap", abrupt.PreviousSecretExpiresAt)
	}
	var shown webhookEndpointJSON
	f.env.Get(t, "/api/v1/admin/webhooks/"+ep.ID, f.admin).Decode(t, &shown)
	if shown.Secret != "" {
		t.Error("GET shows the secret")
	}
	wantProblem(t, "overlap too long", f.env.Post(t, "/api/v1/admin/webhooks/"+ep.ID+"/rotate-secret", f.admin,
		map[string]any{"overlap_seconds": 604801}), 400, "validation_failed", "overlap_seconds")
	wantProblem(t, "unknown endpoint", f.env.Post(t, "/api/v1/admin/webhooks/0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d/rotate-secret",
		f.admin, nil), 404, "not_found")
}

// TestDeletingEndpointStopsDeliveries: an endpoint that keeps failing is
// retried until it is deleted; then nothing more reaches it, its pending
// delivery is failed and listed without it, and later changes make no
// delivery for it.
func TestDeletingEndpointStopsDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rc := newReceiver(t, "", always(http.StatusInternalServerError))
	ep := f.addEndpoint(t, rc.URL, "*")
	e := f.publish(t, gaEvent(10))
	buyer := f.buyers(t, 1)[0]
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	eventually(t, 10*time.Second, "a retry", func() bool { return len(rc.snapshot()) >= 2 })
	f.env.Do(t, apptest.Request{Method: "DELETE", Path: "/api/v1/admin/webhooks/" + ep.ID, Token: f.admin}).
		Want(t, http.StatusNoContent)
	n := len(rc.snapshot())
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	time.Sleep(5 * time.Second) // the next retries were due within 2 and 4 seconds
	if got := len(rc.snapshot()); got > n+1 {
		// One attempt may have been in flight when the endpoint went.
		t.Errorf("%d attempts after the endpoint was deleted", got-n)
	}
	list := f.deliveries(t, "")
	if len(list) != 1 || list[0].EndpointID != nil || list[0].Status != "failed" || list[0].LastError == nil ||
		*list[0].LastError != "endpoint deleted" {
		t.Errorf("deliveries after the deletion = %+v", list)
	}
	wantProblem(t, "redeliver to a deleted endpoint", f.env.Post(t, "/api/v1/admin/webhooks/deliveries/"+list[0].ID+"/redeliver",
		f.admin, nil), 409, "conflict")
}

// TestBootstrapEndpoint: EVENTLY_WEBHOOK_URL and EVENTLY_WEBHOOK_SECRET
// make an endpoint at start-up, receiving every type, listed (its URL
// redacted) but not changed through the API.
func TestBootstrapEndpoint(t *testing.T) {
	t.Parallel()
	const secret = "whsec_env_0123456789"
	rc := newReceiver(t, secret, always(http.StatusOK))
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL+"/hooks?token=tok-s3cr3t"),
		apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", secret))
	var page listJSON[webhookEndpointJSON]
	r := f.env.Get(t, "/api/v1/admin/webhooks", f.admin)
	r.Decode(t, &page)
	if len(page.Data) != 1 {
		t.Fatalf("endpoints = %s, want the bootstrap one", r.Body)
	}
	boot := page.Data[0]
	if !boot.Bootstrap || !boot.Enabled || !slices.Equal(boot.Types, []string{"*"}) || boot.URL != rc.URL+"/hooks?token=xxxxx" ||
		strings.Contains(string(r.Body), "tok-s3cr3t") || strings.Contains(string(r.Body), secret) {
		t.Errorf("bootstrap endpoint = %s", r.Body)
	}
	path := "/api/v1/admin/webhooks/" + boot.ID
	wantProblem(t, "PATCH", f.env.Do(t, apptest.Request{Method: "PATCH", Path: path, Token: f.admin, Body: map[string]any{"enabled": false}}), 409, "conflict")
	wantProblem(t, "DELETE", f.env.Do(t, apptest.Request{Method: "DELETE", Path: path, Token: f.admin}), 409, "conflict")
	wantProblem(t, "rotate", f.env.Post(t, path+"/rotate-secret", f.admin, nil), 409, "conflict")

	e := f.publish(t, gaEvent(1))
	f.hold(t, f.buyers(t, 1)[0], map[string]any{"event_id": e.ID, "quantity": 1})
	eventually(t, 10*time.Second, "a webhook", func() bool { return len(rc.snapshot()) == 1 })
	if h := rc.snapshot()[0]; h.verified != nil {
		t.Errorf("bootstrap webhook: %v", h.verified)
	}
}
