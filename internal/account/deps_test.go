package account

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportsNoInfrastructure keeps the accounts free of storage and
// transport: only the postgres and httpapi packages know those.
func TestDomainImportsNoInfrastructure(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "github.com/go-chi", "github.com/redis/go-redis", "github.com/hibiken/asynq", "net/http"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("internal/account depends on %s", dep)
			}
		}
	}
}
