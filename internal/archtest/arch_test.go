// Package archtest holds tests that keep the dependency rules of the
// codebase: domain packages know nothing of HTTP, SQL drivers, Redis or
// queues; only the adapters do.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adapters may import infrastructure libraries; the listed prefixes are
// the only ones each may use.
var allowed = map[string][]string{
	"postgres":  {"github.com/jackc/pgx", "github.com/pressly/goose", "github.com/prometheus"},
	"redis":     {"github.com/redis/go-redis"},
	"worker":    {"net/http", "github.com/hibiken/asynq", "github.com/robfig/cron", "github.com/prometheus", "github.com/redis/go-redis"},
	"httpapi":   {"net/http", "github.com/go-chi", "github.com/prometheus", "github.com/getkin/kin-openapi"},
	"schedule":  {"github.com/robfig/cron"},
	"telemetry": {"github.com/prometheus"},
	"app":       {"*"},
	"loadgen":   {"net/http"},
	"apptest":   {"*"},
	"pgtest":    {"*"},
	"redistest": {"*"},
	"testenv":   {"*"},
}

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
			for _, imp := range parsed.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if isInfra(path) && !hasPrefix(path, allow) {
					t.Errorf("%s imports %s: only adapters may", f, path)
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
