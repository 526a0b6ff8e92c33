package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/feed"
	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/postgres"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/waitroom"
)

// streamServer is an API with real events (Postgres) and a real feed
// (Redis) whose availability loader the test chooses.
type streamServer struct {
	srv     *httptest.Server
	api     *Server
	hub     *feed.Hub
	reg     *prometheus.Registry
	eventID uuid.UUID
}

// stubRoom has nobody in any waiting room.
type stubRoom struct{ WaitingRoomService }

func (stubRoom) Status(context.Context, uuid.UUID, uuid.UUID) (waitroom.Ticket, error) {
	return waitroom.Ticket{}, apperr.New(apperr.NotFound, "You are not in this event's waiting room.")
}

func newStreamServer(t *testing.T, load feed.LoadFunc, o Options, fo feed.Options, tweak ...func(*http.Server)) *streamServer {
	t.Helper()
	events := event.NewService(postgres.NewEventStore(pgtest.New(t)), time.Now, event.Options{HoldTTL: time.Minute})
	published := event.StatusPublished
	e, err := events.Create(context.Background(), event.Input{
		Name: "Stream", Venue: "Hall", Category: "music", StartsAt: time.Now().Add(48 * time.Hour), Status: &published,
		Sections: []event.SectionInput{{Name: "Floor", PriceCents: ptr[int64](100), Capacity: ptr(10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fo.Load = load
	hub := feed.NewHub(redis.NewChanges(redistest.New(t)), fo)
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if o.Logger == nil {
		o.Logger = logging.Discard()
	}
	o.Registry, o.Spec, o.Accounts, o.Events, o.Feed, o.WaitingRoom = reg, api.Spec, stubAccounts{}, events, hub, stubRoom{}
	o.Tokens = auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Minute, nil)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	for _, fn := range tweak {
		fn(srv.Config)
	}
	srv.Start()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
	})
	return &streamServer{srv: srv, api: s, hub: hub, reg: reg, eventID: e.ID}
}

// TestSlowStreamClientIsDropped: a client that opens a stream and never
// reads, while the state changes as fast as the feed allows (64 KiB per
// event), is dropped once a write has been blocked for the write timeout;
// meanwhile the server's heap does not grow with what it could not send,
// and afterwards nothing of the client is left.
//
// Not parallel: it measures the process's heap.
func TestSlowStreamClientIsDropped(t *testing.T) {
	pad := strings.Repeat("x", 64<<10)
	var loads atomic.Int64
	load := func(_ context.Context, id uuid.UUID) ([]byte, error) {
		n := loads.Add(1)
		return fmt.Appendf(nil, `{"event_id":%q,"n":%d,"pad":%q}`, id, n, pad), nil
	}
	// The write timeout leaves a loaded machine time to produce what the
	// test needs before the client is dropped.
	s := newStreamServer(t, load, Options{StreamWriteTimeout: 10 * time.Second},
		feed.Options{AvailabilityEvery: time.Millisecond, Refresh: time.Millisecond})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// A client with a tiny receive buffer that never reads.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events/%s/availability/stream HTTP/1.1\r\nHost: evently\r\n\r\n", s.eventID)

	open := func() float64 { return metricValue(t, s.reg, "evently_streams_open", streamAvailability) }
	dropped := func() float64 { return metricValue(t, s.reg, "evently_streams_dropped_total", streamAvailability) }
	// Let the feed produce far more than the socket buffers hold (a few
	// MiB at most).
	const produce = 16 << 20
	deadline := time.Now().Add(30 * time.Second)
	for loads.Load()*int64(len(pad)) < produce {
		if time.Now().After(deadline) {
			t.Fatalf("only %d loads in 30s", loads.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if open() != 1 || dropped() != 0 {
		t.Fatalf("streams open %v, dropped %v while the client stalls; want 1 and 0 (the write timeout is 10s)", open(), dropped())
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d MiB produced for a client that reads nothing; live heap grew by %d KiB", loads.Load()*int64(len(pad))>>20, grew>>10)
	if grew > 8<<20 {
		t.Errorf("live heap grew by %d MiB while a client stalled: what it could not take is being kept", grew>>20)
	}

	deadline = time.Now().Add(30 * time.Second)
	for dropped() != 1 || open() != 0 || s.hub.Followers(s.eventID) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: dropped %v, open %v, followers %d; want the client dropped", dropped(), open(), s.hub.Followers(s.eventID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The server closed the connection: reading what was buffered ends.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [64 << 10]byte
	for {
		if _, err := conn.Read(buf[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the dropped client's connection is still open")
			}
			break
		}
	}
}

// TestStreamWritesOutliveWriteTimeout: the server's WriteTimeout limits
// whole responses; a stream sets a deadline per write, so it outlives it.
func TestStreamWritesOutliveWriteTimeout(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	load := func(_ context.Context, id uuid.UUID) ([]byte, error) {
		return fmt.Appendf(nil, `{"n":%d}`, n.Load()), nil
	}
	s := newStreamServer(t, load, Options{StreamHeartbeat: 100 * time.Millisecond}, feed.Options{Refresh: 50 * time.Millisecond},
		func(srv *http.Server) { srv.WriteTimeout = 300 * time.Millisecond })
	resp, err := http.Get(s.srv.URL + "/api/v1/events/" + s.eventID.String() + "/availability/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	events := 0
	for time.Since(start) < 1200*time.Millisecond {
		n.Add(1)
		if !sc.Scan() {
			t.Fatalf("stream ended after %v (%v): the WriteTimeout cut it", time.Since(start), sc.Err())
		}
		if strings.HasPrefix(sc.Text(), "event: ") {
			events++
		}
	}
	if events < 3 {
		t.Errorf("%d events in 1.2s with changes every 50 ms", events)
	}
}

// TestAccessTokenIsNotLogged: a token given as ?access_token= never
// reaches the log, whether it is accepted or refused.
func TestAccessTokenIsNotLogged(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStreamServer(t, func(context.Context, uuid.UUID) ([]byte, error) { return []byte(`{}`), nil },
		Options{Logger: logger}, feed.Options{})
	good, err := s.api.tokens.Issue(auth.Principal{UserID: uuid.New(), Role: auth.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	bad := "not-a-token-" + uuid.NewString()
	base := s.srv.URL + "/api/v1/events/" + s.eventID.String()
	for _, u := range []string{
		base + "/availability/stream?access_token=" + bad,
		base + "/waiting-room/stream?access_token=" + bad,
		base + "/waiting-room/stream?access_token=" + good,
		base + "/availability/stream?access_token=" + good,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "http request") < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	if strings.Count(out, "http request") < 4 {
		t.Fatalf("the four requests were not logged:\n%s", out)
	}
	if strings.Contains(out, bad) || strings.Contains(out, good) {
		t.Errorf("a token given as ?access_token= is in the log:\n%s", out)
	}
}

// metricValue reads a stream metric from reg (0 when it has no value yet).
func metricValue(t *testing.T, reg *prometheus.Registry, name, stream string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stream" && l.GetValue() == stream {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// lockedBuffer is a bytes.Buffer that handlers may write concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
