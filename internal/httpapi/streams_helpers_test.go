package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/evently/evently/api"
	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/httpapi"
)

// sseEvent is one server-sent event as a client received it.
type sseEvent struct {
	Name string
	Data string
	At   time.Time
}

// sseStream is an open stream read by a goroutine: events and comments
// arrive on channels; done is closed when the stream ends.
type sseStream struct {
	Status   int
	Header   http.Header
	Events   chan sseEvent
	Comments chan string
	done     chan struct{}
	err      error
	cancel   context.CancelFunc
}

// streamReq describes a stream to open.
type streamReq struct {
	Path   string
	Token  string // sent in the Authorization header
	Header http.Header
}

// openStream opens a stream and, when it answers 200, reads it until it
// ends; a non-200 answer is returned as a Response for the usual checks.
func openStream(t testing.TB, env *apptest.Env, req streamReq) (*sseStream, *apptest.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+req.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", req.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		r := &apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
		apptest.CheckProblem(t, "GET "+req.Path, r)
		return nil, r
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("GET %s: Content-Type %q, want text/event-stream", req.Path, ct)
	}
	s := &sseStream{
		Status: resp.StatusCode, Header: resp.Header,
		Events: make(chan sseEvent, 1000), Comments: make(chan string, 1000),
		done: make(chan struct{}), cancel: cancel,
	}
	go s.read(resp.Body)
	t.Cleanup(s.Close)
	return s, nil
}

// read parses the stream (the SSE format: "field: value" lines, a blank
// line ends an event, ":" starts a comment).
func (s *sseStream) read(body io.ReadCloser) {
	defer close(s.done)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" || ev.Data != "" {
				ev.At = time.Now()
				s.Events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.Comments <- strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.Data += line[len("data: "):]
		}
	}
	s.err = sc.Err()
}

// Close drops the connection.
func (s *sseStream) Close() {
	s.cancel()
	<-s.done
}

// next returns the next event, failing t if none comes within d.
func (s *sseStream) next(t testing.TB, d time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.Events:
		return ev
	case <-s.done:
		select {
		case ev := <-s.Events:
			return ev
		default:
		}
		t.Fatalf("stream ended (%v) while an event was awaited", s.err)
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return sseEvent{}
}

// ended reports whether the stream ended within d.
func (s *sseStream) ended(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

// streamSpec reads what the spec says each stream sends: per operation
// path, its event names and their data schemas (x-events).
var streamSpec = sync.OnceValues(func() (map[string]map[string]*openapi3.Schema, error) {
	doc, err := httpapi.LoadSpec(api.Spec)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*openapi3.Schema{}
	for path, item := range doc.Paths.Map() {
		if item.Get == nil {
			continue
		}
		ok := item.Get.Responses.Status(http.StatusOK)
		if ok == nil || ok.Value == nil {
			continue
		}
		mt := ok.Value.Content.Get("text/event-stream")
		if mt == nil {
			continue
		}
		events, _ := mt.Extensions["x-events"].(map[string]any)
		if len(events) == 0 {
			return nil, fmt.Errorf("%s: a text/event-stream without x-events", path)
		}
		out[path] = map[string]*openapi3.Schema{}
		for name, schema := range events {
			ref := doc.Components.Schemas[fmt.Sprint(schema)]
			if ref == nil {
				return nil, fmt.Errorf("%s: event %s names no schema (%v)", path, name, schema)
			}
			out[path][name] = ref.Value
		}
	}
	return out, nil
})

// checkEvent returns why an event does not match what the spec says the
// stream of the operation path sends, or nil.
func checkEvent(path string, ev sseEvent) error {
	spec, err := streamSpec()
	if err != nil {
		return err
	}
	events, ok := spec[path]
	if !ok {
		return fmt.Errorf("%s: not a stream in the spec", path)
	}
	schema, ok := events[ev.Name]
	if !ok {
		return fmt.Errorf("%s: event %q is not in the spec's x-events", path, ev.Name)
	}
	var v any
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		return fmt.Errorf("%s: event %s: data is not JSON: %v", path, ev.Name, err)
	}
	if err := schema.VisitJSON(v); err != nil {
		return fmt.Errorf("%s: event %s does not match its schema: %v\ndata: %s", path, ev.Name, err, ev.Data)
	}
	return nil
}

// expect returns the next event, checked against the spec, with its data
// decoded into T.
func expect[T any](t testing.TB, s *sseStream, specPath, name string, d time.Duration) (T, sseEvent) {
	t.Helper()
	ev := s.next(t, d)
	var v T
	if ev.Name != name {
		t.Fatalf("event %q (%s), want %q", ev.Name, ev.Data, name)
	}
	if err := checkEvent(specPath, ev); err != nil {
		t.Error(err)
	}
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		t.Fatalf("decode %s: %v", ev.Data, err)
	}
	return v, ev
}

// The operations' paths as the spec writes them.
const (
	availabilitySpecPath = "/api/v1/events/{id}/availability/stream"
	roomStreamSpecPath   = "/api/v1/events/{id}/waiting-room/stream"
)

func availabilityStreamPath(eventID string) string {
	return "/api/v1/events/" + eventID + "/availability/stream"
}

func roomStreamPath(eventID string) string { return roomPath(eventID) + "/stream" }

// liveAvailabilityJSON is a LiveAvailability as a client reads it.
type liveAvailabilityJSON struct {
	EventID   string `json:"event_id"`
	Available int    `json:"available"`
	Held      int    `json:"held"`
	Booked    int    `json:"booked"`
	Sections  []struct {
		Name      string `json:"name"`
		Capacity  int    `json:"capacity"`
		Available int    `json:"available"`
		Held      int    `json:"held"`
		Booked    int    `json:"booked"`
	} `json:"sections"`
}

// section returns the counts of the named section.
func (a liveAvailabilityJSON) section(name string) (available, held, booked int) {
	for _, s := range a.Sections {
		if s.Name == name {
			return s.Available, s.Held, s.Booked
		}
	}
	return -1, -1, -1
}
