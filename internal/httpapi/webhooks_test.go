package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/httpapi"
)

// hit is one request the receiver got.
type hit struct {
	id, typ   string
	body      []byte
	signature string
	verified  error
	status    int
}

// receiver is a webhook endpoint on 127.0.0.1 that checks every signature
// itself (HMAC-SHA256 of "<t>.<body>") and answers what answer says for
// the nth attempt at a webhook of a type.
type receiver struct {
	*httptest.Server
	secret string
	answer func(typ string, attempt int) int

	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, secret string, answer func(typ string, attempt int) int) *receiver {
	rc := &receiver{secret: secret, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &env)
	h := hit{id: env.ID, typ: env.Type, body: body, signature: r.Header.Get("Evently-Signature")}
	if rc.secret != "" {
		h.verified = verifySignature(rc.secret, h.signature, body)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Evently-Webhook-Id") != env.ID {
		h.verified = errString("bad method or headers")
	}
	rc.mu.Lock()
	attempt := 1
	for _, x := range rc.hits {
		if x.id == h.id {
			attempt++
		}
	}
	h.status = rc.answer(h.typ, attempt)
	rc.hits = append(rc.hits, h)
	rc.mu.Unlock()
	w.WriteHeader(h.status)
}

type errString string

func (e errString) Error() string { return string(e) }

// verifySignature checks "t=<unix>,v1=<hex>[,v1=<hex>...]" as a receiver
// would: some v1 must be the HMAC of "<t>.<body>" keyed by secret.
func verifySignature(secret, header string, body []byte) error {
	var (
		ts   string
		sigs []string
	)
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errString("no timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > time.Minute || d < -time.Minute {
		return errString("stale timestamp")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range sigs {
		if got, err := hex.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errString("signature mismatch")
}

func (rc *receiver) snapshot() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// delivered returns the webhooks answered 2xx, by type.
func (rc *receiver) delivered() map[string][]hit {
	out := map[string][]hit{}
	for _, h := range rc.snapshot() {
		if h.status < 300 {
			out[h.typ] = append(out[h.typ], h)
		}
	}
	return out
}

func (rc *receiver) attempts(id string) []hit {
	var out []hit
	for _, h := range rc.snapshot() {
		if h.id == id {
			out = append(out, h)
		}
	}
	return out
}

// webhookDeliveryJSON is a WebhookDelivery as an operator reads it.
type webhookDeliveryJSON struct {
	ID           string     `json:"id"`
	WebhookID    string     `json:"webhook_id"`
	EndpointID   *string    `json:"endpoint_id"`
	RedeliveryOf *string    `json:"redelivery_of"`
	Type         string     `json:"type"`
	SubjectID    string     `json:"subject_id"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	LastError    *string    `json:"last_error"`
	DeliveredAt  *time.Time `json:"delivered_at"`
}

// TestWebhooks: every booking state change, the offer and the event's
// cancellation reach a local receiver signed; a 500 is retried with the
// same id and body until a 2xx, after which nothing more is sent; each
// body is the resource as the spec describes it; operators see each
// delivery's state.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_0123456789"
	rc := newReceiver(t, secret, func(typ string, attempt int) int {
		switch {
		case typ == "booking.confirmed" && attempt <= 2:
			return http.StatusInternalServerError
		case typ == "event.cancelled":
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", rc.URL+"/hooks"), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", secret))
	e := f.publish(t, gaEvent(1))
	users := f.buyers(t, 2)
	buyer, waiter := users[0], users[1]

	held := f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	confirmed := f.confirm(t, buyer, held.ID)
	f.join(t, waiter, e.ID, 1)
	f.cancel(t, buyer, held.ID)
	eventually(t, 10*time.Second, "offer", func() bool { return f.entry(t, waiter, e.ID).Status == "offered" })
	offer := f.entry(t, waiter, e.ID)
	if r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d", r.Status)
	}

	want := map[string]int{"booking.held": 2, "booking.confirmed": 1, "booking.cancelled": 2, "waitlist.offered": 1}
	eventually(t, 20*time.Second, "every webhook delivered", func() bool {
		got := rc.delivered()
		for typ, n := range want {
			if len(got[typ]) != n {
				return false
			}
		}
		return len(rc.attempts(firstOf(rc, "event.cancelled"))) >= 2
	})

	// Retries: the same id and body until the 2xx, then nothing more.
	conf := rc.delivered()["booking.confirmed"][0]
	time.Sleep(3 * time.Second)
	tries := rc.attempts(conf.id)
	if len(tries) != 3 || tries[0].status != 500 || tries[1].status != 500 || tries[2].status >= 300 {
		t.Fatalf("booking.confirmed attempts = %d (want 500, 500, 2xx and no more)", len(tries))
	}
	for _, x := range tries[1:] {
		if string(x.body) != string(tries[0].body) {
			t.Errorf("retry body differs:\n%s\n%s", x.body, tries[0].body)
		}
	}
	for typ := range want {
		for _, h := range rc.delivered()[typ] {
			if n := len(rc.attempts(h.id)); typ != "booking.confirmed" && n != 1 {
				t.Errorf("%s %s was sent %d times after a 2xx on the first", typ, h.id, n)
			}
		}
	}

	// Every request is signed, and every body is a WebhookEvent of the spec.
	doc, err := httpapi.LoadSpec(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["WebhookEvent"].Value
	for _, h := range rc.snapshot() {
		if h.verified != nil {
			t.Errorf("%s %s: %v (header %q)", h.typ, h.id, h.verified, h.signature)
		}
		var v any
		if err := json.Unmarshal(h.body, &v); err != nil {
			t.Fatalf("%s: %v", h.body, err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("%s body does not match WebhookEvent: %v\n%s", h.typ, err, h.body)
		}
	}

	// The data is the resource as it was at the change.
	var body struct {
		ID        string          `json:"id"`
		CreatedAt time.Time       `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(conf.body, &body); err != nil {
		t.Fatal(err)
	}
	var data bookingJSON
	if err := json.Unmarshal(body.Data, &data); err != nil {
		t.Fatal(err)
	}
	if a, b := must(json.Marshal(data)), must(json.Marshal(confirmed)); string(a) != string(b) {
		t.Errorf("booking.confirmed data differs from the confirmed booking:\n%s\n%s", a, b)
	}
	if !body.CreatedAt.Equal(*confirmed.ConfirmedAt) || body.ID != conf.id {
		t.Errorf("webhook created_at %v id %s, want %v and %s", body.CreatedAt, body.ID, confirmed.ConfirmedAt, conf.id)
	}
	var entry waitlistEntryJSON
	if err := json.Unmarshal(dataOf(t, rc.delivered()["waitlist.offered"][0].body), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Status != "offered" || entry.OfferBookingID == nil || *entry.OfferBookingID != *offer.OfferBookingID {
		t.Errorf("waitlist.offered data = %+v", entry)
	}
	var ev eventJSON
	if err := json.Unmarshal(dataOf(t, rc.attempts(firstOf(rc, "event.cancelled"))[0].body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != e.ID || ev.Status != "cancelled" || ev.Availability.Available != 1 {
		t.Errorf("event.cancelled data = %+v", ev)
	}

	// Operators see what was delivered and what keeps failing.
	deliveries, _ := listAll[webhookDeliveryJSON](t, f.env, "/api/v1/admin/webhooks/deliveries?limit=3", f.admin)
	if len(deliveries) != 7 {
		t.Errorf("%d deliveries listed, want 7", len(deliveries))
	}
	for _, d := range deliveries {
		switch {
		case d.WebhookID == conf.id:
			if d.Status != "delivered" || d.Attempts != 3 || d.LastError != nil || d.DeliveredAt == nil {
				t.Errorf("retried delivery = %+v", d)
			}
		case d.Type == "event.cancelled":
			if d.Status != "pending" || d.Attempts < 2 || d.LastError == nil || *d.LastError != "HTTP 503" || d.SubjectID != e.ID {
				t.Errorf("failing delivery = %+v", d)
			}
		default:
			if d.Status != "delivered" || d.Attempts != 1 {
				t.Errorf("delivery = %+v", d)
			}
		}
	}
	var pending listJSON[webhookDeliveryJSON]
	f.env.Get(t, "/api/v1/admin/webhooks/deliveries?status=pending", f.admin).Decode(t, &pending)
	if len(pending.Data) != 1 || pending.Data[0].Type != "event.cancelled" {
		t.Errorf("pending deliveries = %+v", pending.Data)
	}
	wantProblem(t, "bad status", f.env.Get(t, "/api/v1/admin/webhooks/deliveries?status=lost", f.admin), 400, "validation_failed", "status")
	wantProblem(t, "user", f.env.Get(t, "/api/v1/admin/webhooks/deliveries", buyer), 403, "forbidden")
}

func firstOf(rc *receiver, typ string) string {
	for _, h := range rc.snapshot() {
		if h.typ == typ {
			return h.id
		}
	}
	return "none"
}

func dataOf(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

// TestNoWebhooksWithoutURL: with EVENTLY_WEBHOOK_URL unset and no
// endpoint, nothing is recorded, queued or sent (notifications still are).
func TestNoWebhooksWithoutURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(2))
	buyer := f.buyers(t, 1)[0]
	b := f.buy(t, buyer, e.ID, 1)
	f.cancel(t, buyer, b.ID)
	f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1})
	if r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d", r.Status)
	}
	var n int
	if err := f.db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM webhooks) + (SELECT count(*) FROM webhook_deliveries)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d webhooks and deliveries recorded without an endpoint (%v)", n, err)
	}
	if got := len(f.inbox(t, buyer)); got != 3 {
		t.Errorf("%d notifications, want 3 (confirmed, cancelled, event cancelled)", got)
	}
	ins := newInspector(t, f.env)
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		ins.ListPendingTasks, ins.ListScheduledTasks, ins.ListRetryTasks, ins.ListArchivedTasks, ins.ListCompletedTasks,
	} {
		tasks, err := list("notify")
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if strings.HasPrefix(task.Type, "webhook") {
				t.Errorf("webhook task queued without a URL: %s %s", task.Type, task.Payload)
			}
		}
	}
	var deliveries listJSON[webhookDeliveryJSON]
	f.env.Get(t, "/api/v1/admin/webhooks/deliveries", f.admin).Decode(t, &deliveries)
	if len(deliveries.Data) != 0 {
		t.Errorf("deliveries listed without a URL: %+v", deliveries.Data)
	}
}

// TestWebhookURLSecretsStayHidden: a token in the webhook URL's query
// must not reach what operators read: a failed attempt's last_error shows
// the URL with the token redacted.
func TestWebhookURLSecretsStayHidden(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there: every attempt fails to connect
	const token = "tok-s3cr3t-42"
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", "http://hook:pw-s3cr3t@"+closed+"/hooks?team=7&token="+token),
		apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", "whsec_test_0123456789"))
	e := f.publish(t, gaEvent(1))
	f.hold(t, f.buyers(t, 1)[0], map[string]any{"event_id": e.ID, "quantity": 1})

	var d webhookDeliveryJSON
	eventually(t, 20*time.Second, "a failed attempt", func() bool {
		var page listJSON[webhookDeliveryJSON]
		f.env.Get(t, "/api/v1/admin/webhooks/deliveries", f.admin).Decode(t, &page)
		if len(page.Data) == 1 && page.Data[0].LastError != nil {
			d = page.Data[0]
			return true
		}
		return false
	})
	if strings.Contains(*d.LastError, token) || strings.Contains(*d.LastError, "pw-s3cr3t") {
		t.Errorf("last_error shows a secret of the URL: %s", *d.LastError)
	}
	if !strings.Contains(*d.LastError, "token=xxxxx") {
		t.Errorf("last_error = %q, want the URL with its token redacted", *d.LastError)
	}
}
