package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/evently/evently/internal/pgtest"
	"github.com/evently/evently/internal/testenv"
)

// TestMain lets the test binary play the clients' process, as the command
// does for itself.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := runClients(context.Background(), os.Args[1:], os.Stdout); err != nil {
			os.Stderr.WriteString("clients: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchmarkRuns runs the whole benchmark small: every client gets
// every change, and the report says so.
func TestBenchmarkRuns(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{
		"-clients", "40", "-updates", "3", "-gap", "300ms", "-source-addrs", "2", "-dialers", "10",
		"-database-url", pgtest.NewURL(t), "-redis-url", testenv.RedisURL(t),
	}, func(string) string { return "" }, &out, &errs)
	if err != nil {
		t.Fatalf("run() = %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{"40 of 40 clients connected", "3 changes × 40 clients: 120 deliveries, 0 missed", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
