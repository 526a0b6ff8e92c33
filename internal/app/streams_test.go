package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
	"github.com/evently/evently/internal/auth"
)

// TestShutdownEndsStreams: open streams do not hold the shutdown up. With
// an availability stream and a waiting-room stream open, cancelling the
// run context (what SIGTERM does) ends both at once and Run returns nil
// well within the shutdown timeout (30 s here, so that waiting for the
// streams would show).
func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t, apptest.WithEnv("EVENTLY_SHUTDOWN_TIMEOUT", "30s"))
	base := env.URL + "/api/v1"
	admin := env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin})
	user := env.Token(t, auth.Principal{UserID: uuid.New(), Role: auth.RoleUser})
	call := func(method, path, token string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(call(http.MethodPost, "/admin/events", admin, map[string]any{
		"name": "Last night", "venue": "Hall", "category": "music", "status": "published",
		"starts_at":    time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
		"sections":     []any{map[string]any{"name": "Floor", "price_cents": 100, "capacity": 10}},
		"waiting_room": map[string]any{"enabled": true, "admit_per_minute": 60},
	}), &e)
	call(http.MethodPost, "/events/"+e.ID+"/waiting-room", user, nil)

	// ended is closed when a stream's body ends; first says it has begun.
	open := func(path, token string) (first, ended chan struct{}) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %v, %v", path, resp, err)
		}
		first, ended = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(ended)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			seen := false
			for sc.Scan() {
				if !seen && strings.HasPrefix(sc.Text(), "event: ") {
					seen = true
					close(first)
				}
			}
		}()
		return first, ended
	}
	firstA, endedA := open("/events/"+e.ID+"/availability/stream", "")
	firstW, endedW := open("/events/"+e.ID+"/waiting-room/stream", user)
	for _, c := range []chan struct{}{firstA, firstW} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("a stream sent nothing within 5s")
		}
	}

	stopAt := time.Now()
	env.Shutdown()
	for name, c := range map[string]chan struct{}{"availability": endedA, "waiting room": endedW} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s stream still open 5s after shutdown began", name)
		}
	}
	if err := env.Wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if took := time.Since(stopAt); took > 5*time.Second {
		t.Errorf("shutdown with open streams took %v", took)
	}
}
