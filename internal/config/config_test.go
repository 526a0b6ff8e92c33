package config_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/evently/evently/internal/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"DatabaseURL", c.DatabaseURL, config.DefaultDatabaseURL},
		{"RedisURL", c.RedisURL, config.DefaultRedisURL},
		{"Port", c.Port, 8080},
		{"HoldTTL", c.HoldTTL, 10 * time.Minute},
		{"WaitlistOfferTTL", c.WaitlistOfferTTL, 15 * time.Minute},
		{"CleanupSchedule", c.CleanupSchedule, "@every 2m"},
		{"AutoMigrate", c.AutoMigrate, true},
		{"AuthRatePerMinute", c.AuthRatePerMinute, 30},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, "json"},
		{"JWTSecretGenerated", c.JWTSecretGenerated, true},
		{"MetricsAddr", c.MetricsAddr, "127.0.0.1:9090"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.JWTSecret) < 32 {
		t.Errorf("generated JWT secret has %d bytes, want >= 32", len(c.JWTSecret))
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"PORT":                         "9090",
		"EVENTLY_HOLD_TTL":             "90s",
		"EVENTLY_WAITLIST_OFFER_TTL":   "2m",
		"EVENTLY_CLEANUP_SCHEDULE":     "*/5 * * * *",
		"EVENTLY_AUTO_MIGRATE":         "false",
		"EVENTLY_AUTH_RATE_PER_MINUTE": "0",
		"EVENTLY_LOG_LEVEL":            "debug",
		"EVENTLY_LOG_FORMAT":           "TEXT",
		"EVENTLY_JWT_SECRET":           strings.Repeat("s", 32),
		"EVENTLY_WEBHOOK_URL":          "http://127.0.0.1:9999/hook",
		"EVENTLY_WEBHOOK_SECRET":       "whsec",
		"EVENTLY_CORS_ORIGINS":         "https://a.example, https://b.example",
		"EVENTLY_STOREFRONT_URL":       "https://shop.example/checkout",
	}))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if c.Port != 9090 || c.HoldTTL != 90*time.Second || c.WaitlistOfferTTL != 2*time.Minute ||
		c.CleanupSchedule != "*/5 * * * *" || c.AutoMigrate || c.AuthRatePerMinute != 0 ||
		c.LogLevel != slog.LevelDebug || c.LogFormat != "text" || c.JWTSecretGenerated ||
		len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "https://b.example" ||
		c.StorefrontURL != "https://shop.example/checkout" {
		t.Errorf("Load() = %+v", c)
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"PORT":                         "abc",
		"EVENTLY_HOLD_TTL":             "soon",
		"EVENTLY_WAITLIST_OFFER_TTL":   "-5m",
		"EVENTLY_CLEANUP_SCHEDULE":     "whenever",
		"EVENTLY_AUTO_MIGRATE":         "maybe",
		"EVENTLY_AUTH_RATE_PER_MINUTE": "-1",
		"EVENTLY_LOG_LEVEL":            "loud",
		"EVENTLY_LOG_FORMAT":           "xml",
		"EVENTLY_JWT_SECRET":           "short",
		"DATABASE_URL":                 "mysql://x",
		"REDIS_URL":                    "http://x",
		"EVENTLY_WEBHOOK_URL":          "ftp://x",
		"EVENTLY_STOREFRONT_URL":       "shop.example/checkout",
		"EVENTLY_SHUTDOWN_TIMEOUT":     "0s",
		"EVENTLY_METRICS_ADDR":         "9090",
		"EVENTLY_TRUSTED_PROXY_HOPS":   "-1",
		"EVENTLY_TRUSTED_PROXY_CIDRS":  "10.0.0.0/8, 10.0.0.0/33",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(map[string]string{name: value, "EVENTLY_WEBHOOK_SECRET": "x"}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("Load(%s=%q) error = %v, want one naming %s", name, value, err, name)
			}
		})
	}
}

func TestLoadMetricsAddr(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]string{
		"":               "127.0.0.1:9090",
		":9100":          ":9100",
		"0.0.0.0:9090":   "0.0.0.0:9090",
		"[::1]:9090":     "[::1]:9090",
		"127.0.0.1:0":    "127.0.0.1:0",
		"api":            "",
		" api ":          "",
		"localhost:9090": "localhost:9090",
	} {
		c, err := config.Load(env(map[string]string{"EVENTLY_METRICS_ADDR": value}))
		if err != nil || c.MetricsAddr != want {
			t.Errorf("Load(EVENTLY_METRICS_ADDR=%q).MetricsAddr = %q, %v; want %q", value, c.MetricsAddr, err, want)
		}
	}
	for _, bad := range []string{"9090", "host", ":http", ":70000", "api2"} {
		if _, err := config.Load(env(map[string]string{"EVENTLY_METRICS_ADDR": bad})); err == nil {
			t.Errorf("Load(EVENTLY_METRICS_ADDR=%q) accepted", bad)
		}
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	t.Parallel()
	xff := "X-Forwarded-For"
	tests := []struct {
		name      string
		env       map[string]string
		wantHops  int
		wantCIDRs string
		wantErr   string // the variable the error names; "" for none
	}{
		{"no header", nil, 0, "[]", ""},
		{"xff defaults to one hop", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff}, 1, "[]", ""},
		{"xff any case", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": "x-forwarded-for"}, 1, "[]", ""},
		{"xff two hops", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_HOPS": "2"}, 2, "[]", ""},
		{"xff cidrs", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff,
			"EVENTLY_TRUSTED_PROXY_CIDRS": " 10.1.2.3/8, 192.0.2.7 ,2001:db8::/32,::ffff:172.16.0.0/108"},
			0, "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32 172.16.0.0/12]", ""},
		{"other header", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": "X-Real-IP"}, 0, "[]", ""},
		{"other header from trusted peers", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": "X-Real-IP",
			"EVENTLY_TRUSTED_PROXY_CIDRS": "10.0.0.0/8"}, 0, "[10.0.0.0/8]", ""},
		{"zero hops", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_HOPS": "0"}, 0, "", "EVENTLY_TRUSTED_PROXY_HOPS"},
		{"negative hops", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_HOPS": "-2"}, 0, "", "EVENTLY_TRUSTED_PROXY_HOPS"},
		{"hops of another header", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": "X-Real-IP", "EVENTLY_TRUSTED_PROXY_HOPS": "2"}, 0, "", "EVENTLY_TRUSTED_PROXY_HOPS"},
		{"hops without header", map[string]string{"EVENTLY_TRUSTED_PROXY_HOPS": "2"}, 0, "", "EVENTLY_TRUSTED_PROXY_HOPS"},
		{"hops and cidrs", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_HOPS": "2",
			"EVENTLY_TRUSTED_PROXY_CIDRS": "10.0.0.0/8"}, 0, "", "EVENTLY_TRUSTED_PROXY_HOPS"},
		{"cidrs without header", map[string]string{"EVENTLY_TRUSTED_PROXY_CIDRS": "10.0.0.0/8"}, 0, "", "EVENTLY_TRUSTED_PROXY_CIDRS"},
		{"bad cidr", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_CIDRS": "10.0.0.0/8,ten"}, 0, "", "EVENTLY_TRUSTED_PROXY_CIDRS"},
		{"zoned address", map[string]string{"EVENTLY_TRUSTED_IP_HEADER": xff, "EVENTLY_TRUSTED_PROXY_CIDRS": "fe80::1%eth0"}, 0, "", "EVENTLY_TRUSTED_PROXY_CIDRS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load(%v) error = %v, want one naming %s", tc.env, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%v) error = %v", tc.env, err)
			}
			if c.TrustedProxyHops != tc.wantHops || fmt.Sprint(c.TrustedProxyCIDRs) != tc.wantCIDRs {
				t.Errorf("Load(%v) = hops %d, cidrs %v; want %d, %s", tc.env, c.TrustedProxyHops, c.TrustedProxyCIDRs, tc.wantHops, tc.wantCIDRs)
			}
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{"PORT": "abc", "EVENTLY_HOLD_TTL": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "EVENTLY_HOLD_TTL") {
		t.Fatalf("Load() error = %v, want both variables named", err)
	}
}

func TestLoadPairsSecrets(t *testing.T) {
	t.Parallel()
	if _, err := config.Load(env(map[string]string{"EVENTLY_ADMIN_EMAIL": "a@b.c"})); err == nil {
		t.Error("admin email without password accepted")
	}
	if _, err := config.Load(env(map[string]string{"EVENTLY_WEBHOOK_URL": "http://127.0.0.1/x"})); err == nil {
		t.Error("webhook URL without secret accepted")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"DATABASE_URL":           "postgres://app:pg-pass-123@db:5432/evently?sslmode=require&password=pg-query-pass-222",
		"REDIS_URL":              "redis://:redis-pass-456@cache:6379/0",
		"EVENTLY_JWT_SECRET":     "jwt-secret-jwt-secret-jwt-secret-789",
		"EVENTLY_ADMIN_EMAIL":    "admin@example.com",
		"EVENTLY_ADMIN_PASSWORD": "admin-pass-000",
		"EVENTLY_WEBHOOK_URL":    "https://hooks.example/x?token=hook-token-333",
		"EVENTLY_WEBHOOK_SECRET": "webhook-secret-111",
	}))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, secret := range []string{"pg-pass-123", "pg-query-pass-222", "redis-pass-456", "jwt-secret", "admin-pass-000",
		"webhook-secret-111", "hook-token-333"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("logged config contains %q: %s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "db:5432") {
		t.Errorf("logged config lacks the database host: %s", buf.String())
	}
}

func TestLoadRedisCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		cluster bool
	}{
		{map[string]string{}, false},
		{map[string]string{"REDIS_URL": "redis://cache:6379/3"}, false},
		{map[string]string{"REDIS_URL": "redis+cluster://a:7000,b:7001,c:7002"}, true},
		{map[string]string{"REDIS_URL": "rediss+cluster://:pw@a:7000,b:7001/0"}, true},
		{map[string]string{"REDIS_URL": "redis://a:7000", "EVENTLY_REDIS_CLUSTER": "true"}, true},
		{map[string]string{"REDIS_URL": "redis://a:7000/0", "EVENTLY_REDIS_CLUSTER": "false"}, false},
	} {
		c, err := config.Load(env(tc.env))
		if err != nil || c.RedisCluster != tc.cluster {
			t.Errorf("Load(%v).RedisCluster = %v, %v; want %v", tc.env, c.RedisCluster, err, tc.cluster)
		}
	}
	for _, bad := range []map[string]string{
		{"REDIS_URL": "redis+cluster://a:7000,b:7001/2"},
		{"REDIS_URL": "redis+cluster://a:7000,b"},
		{"REDIS_URL": "redis://a:7000/1", "EVENTLY_REDIS_CLUSTER": "true"},
		{"REDIS_URL": "redis://a:7000,b:7001", "EVENTLY_REDIS_CLUSTER": "true"},
		{"REDIS_URL": "redis://a:7000", "EVENTLY_REDIS_CLUSTER": "sometimes"},
	} {
		_, err := config.Load(env(bad))
		if err == nil || !(strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "EVENTLY_REDIS_CLUSTER")) {
			t.Errorf("Load(%v) error = %v, want one naming the variable", bad, err)
		}
	}
}
