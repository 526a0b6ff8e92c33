package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

// TestSIGTERMEndsStreams starts the real binary with a 60-second shutdown
// timeout, opens a live availability stream, and sends SIGTERM: the stream
// ends and the process exits 0 within 10 seconds (an open stream must not
// hold the shutdown up until its timeout).
func TestSIGTERMEndsStreams(t *testing.T) {
	t.Parallel()
	const secret = "test-secret-test-secret-test-secret-0123"
	port := freePort(t)
	cmd := exec.Command(binary(t))
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+pgtest.NewURL(t),
		"REDIS_URL="+redistest.NewURL(t),
		fmt.Sprintf("PORT=%d", port),
		"EVENTLY_METRICS_ADDR=127.0.0.1:0",
		"EVENTLY_JWT_SECRET="+secret,
		"EVENTLY_SHUTDOWN_TIMEOUT=60s",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	admin, err := auth.NewTokens([]byte(secret), time.Minute, nil).Issue(auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"name": "Closing night", "venue": "Hall", "category": "music", "status": "published",
		"starts_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
		"sections":  []any{map[string]any{"name": "Floor", "price_cents": 100, "capacity": 10}},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/admin/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(created, &e) != nil {
		t.Fatalf("create event = %d %s", resp.StatusCode, created)
	}

	resp, err = http.Get(base + "/api/v1/events/" + e.ID + "/availability/stream")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open stream = %v, %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for got := false; !got; {
		select {
		case l := <-lines:
			got = strings.HasPrefix(l, "event: availability")
		case <-time.After(5 * time.Second):
			t.Fatalf("no availability event within 5s; logs:\n%s", logs.String())
		}
	}

	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for open := true; open; {
		select {
		case _, open = <-lines:
		case <-time.After(10 * time.Second):
			t.Fatalf("stream still open 10s after SIGTERM; logs:\n%s", logs.String())
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM = %v, want 0; logs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM with a stream open; logs:\n%s", logs.String())
	}
	if took := time.Since(signalled); took > 10*time.Second {
		t.Errorf("exit took %v after SIGTERM", took)
	}
	if !strings.Contains(logs.String(), "shutdown complete") {
		t.Errorf("no clean shutdown in the logs:\n%s", logs.String())
	}
}
