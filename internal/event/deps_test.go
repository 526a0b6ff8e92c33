package event_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportsNoDriver keeps the domain free of storage, transport and
// queue libraries: only postgres knows pgx, only httpapi knows chi.
func TestDomainImportsNoDriver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "github.com/go-chi", "github.com/redis", "github.com/hibiken/asynq", "net/http"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("internal/event depends on %s", dep)
			}
		}
	}
}
