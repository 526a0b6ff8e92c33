package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/feed"
)

// Feed is the live change notices the streams follow (feed.Hub).
type Feed interface {
	Subscribe(eventID uuid.UUID, kind feed.Kind) (*feed.Subscription, error)
}

// Stream defaults (Options can change them).
const (
	// defaultHeartbeat keeps idle streams alive through proxies that close
	// silent connections, and finds vanished clients.
	defaultHeartbeat = 15 * time.Second
	// defaultStreamWriteTimeout is how long one write may block before the
	// client is taken for too slow and dropped.
	defaultStreamWriteTimeout = 10 * time.Second
	// streamReadyTimeout bounds the wait for the feed's subscription
	// (Redis) before a stream starts; past it, 503.
	streamReadyTimeout = 5 * time.Second
	// streamRetryMillis is the reconnection delay browsers are told to use.
	streamRetryMillis = "3000"
)

// The streams, as metric labels.
const (
	streamAvailability = "availability"
	streamWaitingRoom  = "waiting_room"
	streamFunnel       = "funnel"
)

// streamMetrics count the open streams and those that ended because a
// write failed (a client too slow to keep up, or gone).
type streamMetrics struct {
	open    *prometheus.GaugeVec
	dropped *prometheus.CounterVec
}

func newStreamMetrics(reg prometheus.Registerer) *streamMetrics {
	m := &streamMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "evently_streams_open",
			Help: "Server-sent event streams open, by stream.",
		}, []string{"stream"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evently_streams_dropped_total",
			Help: "Streams ended because a write failed or did not finish in time (a slow or vanished client), by stream.",
		}, []string{"stream"}),
	}
	reg.MustRegister(m.open, m.dropped)
	return m
}

// liveAvailabilityResponse is the data of the availability stream's
// events.
type liveAvailabilityResponse struct {
	EventID   uuid.UUID                     `json:"event_id"`
	Available int                           `json:"available"`
	Held      int                           `json:"held"`
	Booked    int                           `json:"booked"`
	Sections  []sectionAvailabilityResponse `json:"sections"`
}

type sectionAvailabilityResponse struct {
	Name      string `json:"name"`
	Capacity  int    `json:"capacity"`
	Available int    `json:"available"`
	Held      int    `json:"held"`
	Booked    int    `json:"booked"`
}

func toLiveAvailability(id uuid.UUID, counts []event.SectionAvailability) liveAvailabilityResponse {
	out := liveAvailabilityResponse{EventID: id, Sections: make([]sectionAvailabilityResponse, len(counts))}
	for i, c := range counts {
		out.Sections[i] = sectionAvailabilityResponse{Name: c.Section, Capacity: c.Capacity,
			Available: c.Available, Held: c.Held, Booked: c.Booked}
		out.Available += c.Available
		out.Held += c.Held
		out.Booked += c.Booked
	}
	return out
}

// AvailabilityLoader reads what the availability stream sends: the
// event's seat counts per section, encoded once per change for every
// client of the process (the feed's Load).
func AvailabilityLoader(events *event.Service) feed.LoadFunc {
	return func(ctx context.Context, id uuid.UUID) ([]byte, error) {
		counts, err := events.SectionAvailability(ctx, id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(toLiveAvailability(id, counts))
	}
}

// availabilityStream is GET /events/{id}/availability/stream: the
// event's seat counts at connect, then whenever they change (at most one
// event per feed interval, the latest counts).
func (s *Server) availabilityStream(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	if _, err := s.events.Get(r.Context(), id, principal(r).IsAdmin()); err != nil {
		return err
	}
	sub, err := s.follow(r.Context(), id, feed.Availability)
	if err != nil {
		return err
	}
	defer sub.Close()
	st := s.startStream(w, streamAvailability)
	defer st.end()
	if r.Method == http.MethodHead {
		return nil
	}
	var sent []byte
	for {
		select {
		case <-sub.Changes():
			data := sub.Data()
			if data == nil || bytes.Equal(data, sent) {
				continue
			}
			if !st.event("availability", data) {
				return nil
			}
			sent = data
		case <-st.heartbeat.C:
			if !st.comment() {
				return nil
			}
		case <-sub.Done():
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// waitingRoomStream is GET /events/{id}/waiting-room/stream: the caller's
// ticket (the body of GET /events/{id}/waiting-room) at connect, then
// whenever it changes. The line moves for everyone at each admission, so
// the stream reads its own ticket again (one O(1) Redis read) on the
// event's "queue moved" signal — at most once a second — and when its
// admission lapses, and sends it when it differs from the last one sent.
func (s *Server) waitingRoomStream(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	who := principal(r)
	sub, err := s.follow(r.Context(), id, feed.Queue)
	if err != nil {
		return err
	}
	defer sub.Close()
	ticket, err := s.waitingRoomStatus(r.Context(), id, who)
	if err != nil {
		return err
	}
	data, err := json.Marshal(ticket)
	if err != nil {
		return err
	}
	st := s.startStream(w, streamWaitingRoom)
	defer st.end()
	if r.Method == http.MethodHead {
		return nil
	}
	if !st.event("ticket", data) {
		return nil
	}
	sent := data
	lapse := time.NewTimer(time.Hour)
	defer lapse.Stop()
	for {
		lapse.Stop()
		if until := ticket.AdmittedUntil; until != nil && time.Until(*until) > 0 {
			// The admission lapses then: status admitted → expired.
			lapse.Reset(time.Until(*until) + 10*time.Millisecond)
		}
		select {
		case <-sub.Changes():
		case <-lapse.C:
		case <-st.heartbeat.C:
			if !st.comment() {
				return nil
			}
		case <-sub.Done():
			return nil
		case <-r.Context().Done():
			return nil
		}
		t, err := s.waitingRoomStatus(r.Context(), id, who)
		switch {
		case apperr.Is(err, apperr.NotFound):
			// The caller left the room (or the event went away): say so
			// and end the stream.
			st.event("problem", problemJSON(r, err))
			return nil
		case err != nil:
			// Redis did not answer this time; the next signal tries again.
			continue
		}
		data, err := json.Marshal(t)
		if err != nil {
			return nil
		}
		ticket = t
		if bytes.Equal(data, sent) {
			continue
		}
		if !st.event("ticket", data) {
			return nil
		}
		sent = data
	}
}

// follow subscribes to an event's changes and waits until the feed
// listens, so that a state read next cannot miss a change.
func (s *Server) follow(ctx context.Context, id uuid.UUID, kind feed.Kind) (*feed.Subscription, error) {
	unavailable := apperr.New(apperr.Unavailable, "Live updates are unavailable right now; try again.")
	if s.feed == nil {
		return nil, unavailable
	}
	sub, err := s.feed.Subscribe(id, kind)
	if err != nil {
		return nil, unavailable
	}
	timer := time.NewTimer(streamReadyTimeout)
	defer timer.Stop()
	select {
	case <-sub.Ready():
		return sub, nil
	case <-timer.C:
		err = unavailable
	case <-sub.Done():
		err = unavailable
	case <-ctx.Done():
		err = ctx.Err()
	}
	sub.Close()
	return nil, err
}

// stream writes one server-sent event stream. Each write gets a deadline
// of its own (the server's WriteTimeout would otherwise end every stream a
// minute after it started) and is flushed at once. A write that fails or
// does not finish in time — a client that stopped reading, whose socket
// buffers are full — ends the stream: a slow client costs one blocked
// goroutine for at most the write timeout, never a growing queue (what is
// sent is always the latest state, held once for every client).
type stream struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	heartbeat *time.Ticker
	name      string
	metrics   *streamMetrics
	failed    bool
}

// startStream answers 200 with the stream's headers.
func (s *Server) startStream(w http.ResponseWriter, name string) *stream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Proxies such as nginx must not hold events back.
	h.Set("X-Accel-Buffering", "no")
	// The connection was the stream's: it is not reused after it, with the
	// write deadline its last write left.
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	st := &stream{
		w:         w,
		rc:        http.NewResponseController(w),
		timeout:   s.streamWriteTimeout,
		heartbeat: time.NewTicker(s.heartbeat),
		name:      name,
		metrics:   s.streams,
	}
	st.metrics.open.WithLabelValues(name).Inc()
	st.writeString("retry: " + streamRetryMillis + "\n\n")
	return st
}

// event sends one event; false means the stream is over. data is one
// line of JSON, written as it is (shared by every client, never copied).
func (st *stream) event(name string, data []byte) bool {
	return st.write(func(w io.Writer) error {
		if _, err := io.WriteString(w, "event: "+name+"\ndata: "); err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n\n")
		return err
	})
}

// comment sends a heartbeat, which clients ignore.
func (st *stream) comment() bool { return st.writeString(": heartbeat\n\n") }

func (st *stream) writeString(s string) bool {
	return st.write(func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// write runs fn under a fresh write deadline and flushes.
func (st *stream) write(fn func(io.Writer) error) bool {
	if st.failed {
		return false
	}
	err := st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if err == nil {
		err = fn(st.w)
	}
	if err == nil {
		err = st.rc.Flush()
	}
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		st.failed = true
		st.metrics.dropped.WithLabelValues(st.name).Inc()
		return false
	}
	return true
}

// end closes the stream's accounts. The server then ends the response
// (its last chunk) and closes the connection; that last write is bounded
// by a deadline too, so a client that stopped reading cannot hold a
// shutdown up.
func (st *stream) end() {
	st.heartbeat.Stop()
	st.metrics.open.WithLabelValues(st.name).Dec()
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
}

// problemJSON is err as a problem document, for a stream's last event.
func problemJSON(r *http.Request, err error) []byte {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		ae = unexpected()
	}
	b, _ := json.Marshal(newProblem(r, ae))
	return b
}
