package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/redistest"
)

// buildBinary compiles evently once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "evently-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "evently")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestBadConfigExitsNamingTheVariable(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{"PORT": "abc", "EVENTLY_HOLD_TTL": "soon"} {
		cmd := exec.Command(binary(t))
		cmd.Env = append(os.Environ(), name+"="+value)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%s=%s: exit = %v, want a non-zero exit", name, value, err)
		}
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("%s=%s: stderr %q does not name the variable", name, value, stderr.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "usage") {
		t.Errorf("run(frobnicate) = %v, stderr %q; want an error and the usage", err, stderr.String())
	}
}

// TestSIGTERMExitsZero starts the real binary, waits until it is ready,
// starts a slow request (a client that sends half its body, then the rest
// 1.5 s later), sends SIGTERM in between, and expects the request to be
// answered and the process to exit 0 within 10 seconds.
func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cmd := exec.Command(binary(t))
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+pgtest.NewURL(t),
		"REDIS_URL="+redistest.NewURL(t),
		fmt.Sprintf("PORT=%d", port),
		"EVENTLY_METRICS_ADDR=127.0.0.1:0",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

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
			cmd.Process.Kill()
			t.Fatalf("not ready within 30s; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	body := `{"email":"nobody@example.com","password":"not-the-password"}`
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: evently\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body[:10])
	time.Sleep(300 * time.Millisecond) // the handler is now reading the body
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatalf("finish the slow request after SIGTERM: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("slow request cut by shutdown: %v\nlogs:\n%s", err, logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("slow login = %d, want its answer (401)", resp.StatusCode)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM = %v, want 0; logs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 10s after SIGTERM; logs:\n%s", logs.String())
	}
	if elapsed := time.Since(signalled); elapsed > 10*time.Second {
		t.Errorf("exit took %v after SIGTERM", elapsed)
	}
	if !strings.Contains(logs.String(), "shutdown complete") {
		t.Errorf("no clean shutdown in the logs:\n%s", logs.String())
	}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	// A database that does not exist yet: migrate creates it.
	fresh := strings.Replace(pgtest.NewURL(t), "/evently_test_", "/evently_new_", 1)
	t.Cleanup(func() { dropDatabase(t, fresh) })
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return fresh
		}
		return ""
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "up"}, getenv, &out, &out); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "status"}, getenv, &out, &out); err != nil {
		t.Fatalf("migrate status: %v", err)
	}
	if strings.Contains(out.String(), "pending") || !strings.Contains(out.String(), "applied") {
		t.Errorf("status after up:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "down"}, getenv, &out, &out); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	if err := run(ctx, []string{"migrate", "status"}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "pending") {
		t.Errorf("status after down: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"migrate", "sideways"}, getenv, &out, &out); err == nil {
		t.Error("migrate sideways succeeded")
	}
}

func dropDatabase(t *testing.T, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}
