package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet sends a request without Go's transparent decompression, so the
// test sees the bytes and headers on the wire.
func rawGet(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return resp, body
}

// TestPublicReadsRevalidate: the event list, an event and its seats carry
// a weak ETag and a Cache-Control suited to each; If-None-Match with that
// tag is a 304 without a body; the tag changes with the content (a seat
// taken); and a signed-in caller's copy is private.
func TestPublicReadsRevalidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	base := f.env.URL + "/api/v1"
	for path, cc := range map[string]string{
		"/events":                             "public, max-age=10",
		"/events/" + e.ID:                     "public, max-age=5",
		"/events/" + e.ID + "/seats?limit=50": "public, no-cache",
	} {
		resp, body := rawGet(t, http.MethodGet, base+path, nil)
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(etag, `W/"`) || resp.Header.Get("Cache-Control") != cc {
			t.Errorf("GET %s = %d, ETag %q, Cache-Control %q; want 200, a weak ETag, %q", path, resp.StatusCode, etag, resp.Header.Get("Cache-Control"), cc)
			continue
		}
		if !json.Valid(body) {
			t.Errorf("GET %s: body is not JSON", path)
		}
		resp, body = rawGet(t, http.MethodGet, base+path, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("GET %s If-None-Match %s = %d with %d bytes, ETag %q; want 304, empty, same tag", path, etag, resp.StatusCode, len(body), resp.Header.Get("ETag"))
		}
		resp, _ = rawGet(t, http.MethodGet, base+path, map[string]string{"If-None-Match": `W/"stale"`})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a stale tag = %d, want 200", path, resp.StatusCode)
		}
		resp, _ = rawGet(t, http.MethodGet, base+path, map[string]string{"Authorization": "Bearer " + f.user})
		if got := resp.Header.Get("Cache-Control"); got != strings.Replace(cc, "public", "private", 1) {
			t.Errorf("GET %s signed in: Cache-Control = %q, want private", path, got)
		}
	}

	seats := base + "/events/" + e.ID + "/seats?limit=50"
	before, _ := rawGet(t, http.MethodGet, seats, nil)
	f.holdSeats(t, e.ID, time.Minute, 1, 2)
	after, body := rawGet(t, http.MethodGet, seats, map[string]string{"If-None-Match": before.Header.Get("ETag")})
	if after.StatusCode != http.StatusOK || after.Header.Get("ETag") == before.Header.Get("ETag") || !bytes.Contains(body, []byte(`"held"`)) {
		t.Errorf("seats after a hold, with the old tag = %d, ETag %q (was %q); want 200 with held seats and a new tag",
			after.StatusCode, after.Header.Get("ETag"), before.Header.Get("ETag"))
	}
}

// TestGzipAndHead: a large JSON answer is gzipped when asked (and only
// then), decodes to the identity answer and shares its ETag; a small one
// is sent as it is; HEAD gets a GET's headers and no body, on reads and
// on the streams (which it does not hold open); HEAD on a POST-only route
// is 405; a stream asked for gzip is sent uncompressed and at once.
func TestGzipAndHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	seats := f.env.URL + "/api/v1/events/" + e.ID + "/seats?limit=1000"

	plain, plainBody := rawGet(t, http.MethodGet, seats, nil)
	if plain.Header.Get("Content-Encoding") != "" || len(plainBody) < 10_000 {
		t.Fatalf("identity seats: Content-Encoding %q, %d bytes", plain.Header.Get("Content-Encoding"), len(plainBody))
	}
	gz, gzBody := rawGet(t, http.MethodGet, seats, map[string]string{"Accept-Encoding": "br;q=1, gzip;q=0.8"})
	if gz.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(strings.Join(gz.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("seats with Accept-Encoding gzip: Content-Encoding %q, Vary %q", gz.Header.Get("Content-Encoding"), gz.Header.Values("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gzBody))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plainBody) || len(gzBody)*3 > len(plainBody) {
		t.Errorf("gzip body: %d bytes, unzipped equal = %v; identity %d bytes (want equal, under a third)", len(gzBody), bytes.Equal(unzipped, plainBody), len(plainBody))
	}
	if gz.Header.Get("ETag") != plain.Header.Get("ETag") {
		t.Errorf("ETag gzip %q != identity %q", gz.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	if r, _ := rawGet(t, http.MethodGet, seats, map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still compressed")
	}
	if r, _ := rawGet(t, http.MethodGet, f.env.URL+"/healthz", map[string]string{"Accept-Encoding": "gzip"}); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("a small answer was compressed")
	}

	for _, h := range []map[string]string{nil, {"Accept-Encoding": "gzip"}} {
		get, _ := rawGet(t, http.MethodGet, seats, h)
		head, body := rawGet(t, http.MethodHead, seats, h)
		if head.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD seats %v = %d with %d bytes", h, head.StatusCode, len(body))
		}
		for _, k := range []string{"ETag", "Cache-Control", "Content-Type", "Content-Encoding"} {
			if head.Header.Get(k) != get.Header.Get(k) {
				t.Errorf("HEAD seats %v: %s = %q, GET has %q", h, k, head.Header.Get(k), get.Header.Get(k))
			}
		}
	}
	for _, path := range []string{"/api/v1/events", "/api/v1/events/" + e.ID, "/docs", "/openapi.yaml", "/readyz", "/wait/" + e.ID,
		"/api/v1/events/" + e.ID + "/availability/stream"} {
		head, body := rawGet(t, http.MethodHead, f.env.URL+path, nil)
		if head.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s = %d with %d bytes, want 200 and none", path, head.StatusCode, len(body))
		}
	}
	if head, _ := rawGet(t, http.MethodHead, f.env.URL+"/api/v1/bookings", nil); head.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /api/v1/bookings = %d, want 405", head.StatusCode)
	}

	// A stream is not compressed and its first event arrives at once.
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+"/api/v1/events/"+e.ID+"/availability/stream", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: Content-Encoding %q, Content-Type %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var seen []byte
		for !bytes.Contains(seen, []byte("event: availability")) {
			n, err := resp.Body.Read(buf)
			seen = append(seen, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(seen)
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, "event: availability") {
			t.Errorf("stream sent %q, want an availability event", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event within 5s from a stream asked for gzip")
	}
}
