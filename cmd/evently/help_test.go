package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestEveryCommandHasHelp: `evently <command> --help` (and -h, help)
// prints that command's usage and succeeds, without reading the
// configuration (here every variable is invalid) and without starting
// anything — `serve --help` must not serve.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	bad := func(string) string { return "not-a-valid-value" }
	for cmd := range commandUsage {
		for _, flag := range []string{"--help", "-h", "help"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var out, errOut bytes.Buffer
			start := time.Now()
			err := run(ctx, []string{cmd, flag}, bad, &out, &errOut)
			cancel()
			if err != nil {
				t.Errorf("evently %s %s = %v, want success", cmd, flag, err)
			}
			if !strings.HasPrefix(out.String(), "usage: evently "+cmd) {
				t.Errorf("evently %s %s printed %q, want its usage", cmd, flag, out.String())
			}
			if time.Since(start) > time.Second {
				t.Errorf("evently %s %s took %v: it must not start anything", cmd, flag, time.Since(start))
			}
		}
	}
	// Every command the top-level usage lists has its own.
	for cmd := range commandUsage {
		if !strings.Contains(usage, "\n  "+cmd+" ") {
			t.Errorf("the top-level usage does not list %q", cmd)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, bad, &out, &out); err != nil || !strings.Contains(out.String(), "--help shows a command's own usage") {
		t.Errorf("evently --help = %v, %q", err, out.String())
	}
}
