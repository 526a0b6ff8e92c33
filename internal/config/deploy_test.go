package config_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/evently/evently/internal/config"
)

// composeFile is the part of docker-compose.yml the checks read.
type composeFile struct {
	Services map[string]struct {
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// interpolation is compose's ${VAR}, ${VAR:-default} and ${VAR:?message}.
var interpolation = regexp.MustCompile(`\$\{(\w+)(?::([-?])([^}]*))?\}`)

// readYAML reads a YAML file of the repository (a path from its root).
func readYAML[T any](t *testing.T, path string) T {
	t.Helper()
	raw, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// readCompose reads the repository's docker-compose.yml.
func readCompose(t *testing.T) composeFile {
	t.Helper()
	return readYAML[composeFile](t, "docker-compose.yml")
}

// TestComposeShipsNoSecretAndKeepsDataStoresPrivate: `docker compose up`
// with nothing set must not run with a secret anyone can read here (a JWT
// key that passes the length check, an admin password), and must publish
// Postgres, Valkey and the metrics to this host's loopback only.
func TestComposeShipsNoSecretAndKeepsDataStoresPrivate(t *testing.T) {
	t.Parallel()
	f := readCompose(t)
	for _, name := range []string{"postgres", "valkey"} {
		svc, ok := f.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q: bind it to 127.0.0.1", name, p)
			}
		}
	}
	app := f.Services["evently"]
	for _, p := range app.Ports {
		if strings.HasSuffix(p, ":9090") && !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("evently publishes the metrics port on every interface: %q", p)
		}
	}

	// The environment as compose gives it when the operator set nothing.
	env := map[string]string{}
	required := map[string]bool{}
	for k, v := range app.Environment {
		env[k] = interpolation.ReplaceAllStringFunc(v, func(m string) string {
			sub := interpolation.FindStringSubmatch(m)
			if sub[2] == "?" {
				required[k] = true
			}
			if sub[2] == "-" {
				return sub[3]
			}
			return ""
		})
	}
	if !required["EVENTLY_JWT_SECRET"] {
		c, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("compose environment with nothing set: %v", err)
		}
		if !c.JWTSecretGenerated {
			t.Errorf("compose sets a fixed EVENTLY_JWT_SECRET (%q): leave it to the environment", env["EVENTLY_JWT_SECRET"])
		}
	}
	if pw := env["EVENTLY_ADMIN_PASSWORD"]; pw != "" && !required["EVENTLY_ADMIN_PASSWORD"] {
		t.Errorf("compose ships an admin password (%q)", pw)
	}
}

// TestLocalDefaultsAgreeWithCompose: make run starts docker-compose.yml's
// Postgres when nothing answers, so the Makefile's DATABASE_URL, the
// binary's default and .env.example must carry compose's user, password
// and database, and compose's REDIS port.
func TestLocalDefaultsAgreeWithCompose(t *testing.T) {
	t.Parallel()
	f := readCompose(t)
	pg := f.Services["postgres"].Environment
	want := "postgres://" + pg["POSTGRES_USER"] + ":" + pg["POSTGRES_PASSWORD"] + "@127.0.0.1:5432/" + pg["POSTGRES_DB"] + "?sslmode=disable"
	if config.DefaultDatabaseURL != want {
		t.Errorf("the binary's default DATABASE_URL = %q, want compose's %q", config.DefaultDatabaseURL, want)
	}
	for file, pattern := range map[string]string{
		"../../Makefile":     `(?m)^DATABASE_URL \?= (\S+)$`,
		"../../.env.example": `(?m)^DATABASE_URL=(\S+)$`,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(pattern).FindSubmatch(b)
		if m == nil || string(m[1]) != want {
			t.Errorf("%s: DATABASE_URL = %q, want compose's %q", file, m, want)
		}
	}
}

// TestMakeListsTargetsByDefault: `make` with no target prints the targets
// (help is the default goal) instead of building or testing anything.
func TestMakeListsTargetsByDefault(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-s", "-C", "../..")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	for _, target := range []string{"run", "test", "lint", "bench", "help"} {
		if !regexp.MustCompile(`(?m)^  make ` + target + ` +\S`).Match(out) {
			t.Errorf("make lists no %q target with its description:\n%s", target, out)
		}
	}
}

// renderBlueprint is the part of render.yaml the checks read.
type renderBlueprint struct {
	Services []struct {
		Type            string `yaml:"type"`
		HealthCheckPath string `yaml:"healthCheckPath"`
		EnvVars         []struct {
			Key   string  `yaml:"key"`
			Value *string `yaml:"value"`
		} `yaml:"envVars"`
	} `yaml:"services"`
}

// TestRenderBlueprintConfig: the values render.yaml fixes load, the
// client address is read behind Render's two proxies (Cloudflare, then
// Render's own; see docs/configuration.md, "Client addresses behind proxies"), and
// Render's health check is the readiness endpoint.
func TestRenderBlueprintConfig(t *testing.T) {
	t.Parallel()
	b := readYAML[renderBlueprint](t, "render.yaml")
	env := map[string]string{}
	found := false
	for _, svc := range b.Services {
		if svc.Type != "web" {
			continue
		}
		found = true
		for _, v := range svc.EnvVars {
			if v.Value != nil {
				env[v.Key] = *v.Value
			}
		}
	}
	if !found {
		t.Fatal("render.yaml has no web service")
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("render.yaml values: %v", err)
	}
	for _, svc := range b.Services {
		if svc.Type == "web" && svc.HealthCheckPath != "/readyz" {
			t.Errorf("render.yaml healthCheckPath = %q, want /readyz (200 unless the instance cannot serve bookings)", svc.HealthCheckPath)
		}
	}
	if c.TrustedIPHeader != "X-Forwarded-For" || c.TrustedProxyHops != 2 {
		t.Errorf("render.yaml: client address from %q, %d hops; want X-Forwarded-For, 2", c.TrustedIPHeader, c.TrustedProxyHops)
	}
}
