// Package archtest holds the tests that keep the dependency rules of the
// codebase, in one place: domain packages know nothing of HTTP, SQL
// drivers, Redis or queues, not even through another package; only the
// adapters do, each only its own.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// adapters may import infrastructure libraries; the listed prefixes are
// the only ones each may use.
var allowed = map[string][]string{
	"postgres":    {"github.com/jackc/pgx", "github.com/pressly/goose", "github.com/prometheus"},
	"redis":       {"github.com/redis/go-redis"},
	"worker":      {"github.com/hibiken/asynq", "github.com/robfig/cron", "github.com/prometheus"},
	"notify":      {"net/http"}, // the webhook sender
	"httpapi":     {"net/http", "github.com/go-chi", "github.com/prometheus", "github.com/getkin/kin-openapi"},
	"schedule":    {"github.com/robfig/cron"},
	"telemetry":   {"github.com/prometheus"},
	"app":         {"*"},
	"loadgen":     {"net/http"},
	"apptest":     {"*"},
	"bookingtest": {"*"},
	"pgtest":      {"*"},
	"redistest":   {"*"},
	"testenv":     {"*"},
}

// fileAllowed are single files allowed one more library than their
// package: the worker hands the shared Redis client to asynq, and nothing
// else in it talks to Redis (that is internal/redis's job).
var fileAllowed = map[string][]string{
	"worker/worker.go": {"github.com/redis/go-redis"},
}

// edges are packages outside the adapters that may depend on
// infrastructure through another package, though not import it: config
// validates cron schedules through internal/schedule.
var edges = map[string]bool{"config": true}

var infrastructure = []string{
	"github.com/jackc/pgx", "github.com/redis/go-redis", "github.com/go-chi", "github.com/hibiken/asynq",
	"github.com/robfig/cron", "github.com/pressly/goose", "github.com/prometheus", "github.com/getkin/kin-openapi",
	"net/http",
}

func TestDependenciesPointInward(t *testing.T) {
	t.Parallel()
	root := ".."
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "archtest" {
			continue
		}
		pkg := e.Name()
		allow := allowed[pkg]
		if len(allow) == 1 && allow[0] == "*" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			rel := pkg + "/" + filepath.Base(f)
			for _, imp := range parsed.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if isInfra(path) && !hasPrefix(path, allow) && !hasPrefix(path, fileAllowed[rel]) {
					t.Errorf("%s imports %s: only adapters may, each only its own", f, path)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files; is the walk broken?", checked)
	}
}

func isInfra(path string) bool { return hasPrefix(path, infrastructure) }

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestDomainDependsOnNoInfrastructure: no domain package (every package
// that is neither an adapter nor an edge) depends on infrastructure, even
// through another package.
func TestDomainDependsOnNoInfrastructure(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var domain []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "archtest" && allowed[e.Name()] == nil && !edges[e.Name()] {
			domain = append(domain, "../"+e.Name())
		}
	}
	if len(domain) < 8 {
		t.Fatalf("found only %d domain packages (%v); is the walk broken?", len(domain), domain)
	}
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if isInfra(dep) {
				t.Errorf("internal/%s depends on %s", filepath.Base(pkg), dep)
			}
		}
	}
}
