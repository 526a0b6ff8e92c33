package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionCommand builds evently as the Makefile does, with the version
// and commit given to the linker, and checks that `evently version` prints
// them with the Go version, that the start-up log line carries them, and
// that `version --help` is help, not an error.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	const ver, rev = "v9.8.7-test", "0123456789abcdef"
	bin := filepath.Join(t.TempDir(), "evently")
	pkg := "github.com/evently/evently/internal/version"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".version="+ver+" -X "+pkg+".revision="+rev, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runBin := func(env []string, args ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	// No configuration is read: a bad variable does not matter.
	out, errOut, err := runBin([]string{"PORT=not-a-port"}, "version")
	if err != nil {
		t.Fatalf("evently version: %v\n%s", err, errOut)
	}
	want := "evently " + ver + "\nrevision: " + rev + "\ngo: " + runtime.Version() + "\n"
	if out != want {
		t.Errorf("evently version printed\n%q\nwant\n%q", out, want)
	}

	for _, help := range []string{"--help", "-h", "help"} {
		out, _, err := runBin(nil, "version", help)
		if err != nil || !strings.Contains(out, "usage: evently version") {
			t.Errorf("evently version %s = %v, stdout %q; want the version usage and exit 0", help, err, out)
		}
	}
	_, errOut, err = runBin(nil, "version", "--json")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(errOut, "usage: evently version") {
		t.Errorf("evently version --json = %v, stderr %q; want a non-zero exit and the usage", err, errOut)
	}

	// serve logs the build before it connects anywhere (here it cannot).
	_, errOut, err = runBin([]string{
		"DATABASE_URL=postgres://postgres@127.0.0.1:1/evently?sslmode=disable&connect_timeout=2",
		"EVENTLY_LOG_FORMAT=text", "EVENTLY_METRICS_ADDR=127.0.0.1:0", "PORT=0",
	}, "serve")
	if err == nil {
		t.Fatalf("serve without a database exited 0")
	}
	first, _, _ := strings.Cut(errOut, "\n")
	if !strings.Contains(first, "starting evently") || !strings.Contains(first, "version="+ver) ||
		!strings.Contains(first, "revision="+rev) || !strings.Contains(first, "go_version="+runtime.Version()) {
		t.Errorf("start-up log line %q lacks the build", first)
	}
}

// TestVersionInProcess: the command runs without configuration and lists
// itself in the usage.
func TestVersionInProcess(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("run(version) = %v", err)
	}
	if !strings.HasPrefix(out.String(), "evently ") || !strings.Contains(out.String(), "go: "+runtime.Version()) {
		t.Errorf("run(version) printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil ||
		!strings.Contains(out.String(), "\n  version ") {
		t.Errorf("usage does not list version: %v\n%s", err, out.String())
	}
}
