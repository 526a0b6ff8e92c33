// Package config loads Evently's configuration from the environment. Nothing
// else in the program reads environment variables.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evently/evently/internal/logging"
	"github.com/evently/evently/internal/schedule"
)

// Config is the whole runtime configuration of one evently process.
type Config struct {
	DatabaseURL string
	RedisURL    string
	// RedisCluster reports that RedisURL names a Redis Cluster: its scheme
	// is redis+cluster (or rediss+cluster) with a comma-separated list of
	// seed nodes, or EVENTLY_REDIS_CLUSTER=true with a redis:// URL of one
	// seed node. A cluster has only database 0.
	RedisCluster bool
	Port         int
	// MetricsAddr is the host:port of the listener that serves /metrics
	// alone; empty: /metrics is served on the API's listener.
	MetricsAddr string

	JWTSecret []byte
	// JWTSecretGenerated reports that EVENTLY_JWT_SECRET was unset and a
	// random per-process secret is in use (tokens die with the process).
	JWTSecretGenerated bool

	// TicketSigningKey is the 32-byte Ed25519 seed that signs ticket
	// codes (EVENTLY_TICKET_SIGNING_KEY: the seed in base64, or a PKCS#8
	// PEM private key).
	TicketSigningKey []byte
	// TicketSigningKeyGenerated reports that EVENTLY_TICKET_SIGNING_KEY
	// was unset and a random per-process key is in use (codes stop
	// verifying when the process exits).
	TicketSigningKeyGenerated bool

	AdminEmail    string
	AdminPassword string

	HoldTTL          time.Duration
	WaitlistOfferTTL time.Duration
	CleanupSchedule  string

	WebhookURL    string
	WebhookSecret string

	AutoMigrate       bool
	AuthRatePerMinute int
	// HoldRatePerMinute rations holds per buyer and event (0: off).
	HoldRatePerMinute int
	// TrustedIPHeader names the header (e.g. X-Forwarded-For) that a trusted
	// reverse proxy sets to the client address. Empty: use the peer address.
	TrustedIPHeader string
	// TrustedProxyHops is, for X-Forwarded-For, how many entries from the
	// right the client's is (1: the right-most, written by the proxy in
	// front of evently); 0 when TrustedProxyCIDRs is used instead or the
	// header is another one.
	TrustedProxyHops int
	// TrustedProxyCIDRs are the addresses of the trusted proxies: the
	// header is read only from a peer among them, and X-Forwarded-For is
	// walked from the right past their entries to the client's.
	TrustedProxyCIDRs []netip.Prefix
	CORSOrigins       []string
	// StorefrontURL is where the waiting-room page (/wait/{event_id})
	// sends an admitted buyer, with the event id and the admission pass;
	// empty: the page says the buyer is admitted and shows the pass.
	StorefrontURL string

	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string
}

// Defaults that work on a developer machine with local services.
const (
	DefaultDatabaseURL = "postgres://postgres:evently@127.0.0.1:5432/evently?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	// DefaultMetricsAddr keeps /metrics off the public API: only a scraper
	// on the same host (or in the same container) reaches it.
	DefaultMetricsAddr = "127.0.0.1:9090"
	// MetricsOnAPI is the EVENTLY_METRICS_ADDR value that serves /metrics
	// on the API's listener, to whoever reaches the API.
	MetricsOnAPI = "api"
)

// Load reads the configuration through getenv. Every invalid value is
// reported, each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		DatabaseURL:       p.url("DATABASE_URL", DefaultDatabaseURL, "postgres", "postgresql"),
		RedisURL:          p.url("REDIS_URL", DefaultRedisURL, "redis", "rediss", "redis+cluster", "rediss+cluster"),
		Port:              p.port("PORT", 8080),
		MetricsAddr:       p.listenAddr("EVENTLY_METRICS_ADDR", DefaultMetricsAddr, MetricsOnAPI),
		AdminEmail:        strings.TrimSpace(getenv("EVENTLY_ADMIN_EMAIL")),
		AdminPassword:     getenv("EVENTLY_ADMIN_PASSWORD"),
		HoldTTL:           p.duration("EVENTLY_HOLD_TTL", 10*time.Minute),
		WaitlistOfferTTL:  p.duration("EVENTLY_WAITLIST_OFFER_TTL", 15*time.Minute),
		CleanupSchedule:   p.schedule("EVENTLY_CLEANUP_SCHEDULE", "@every 2m"),
		WebhookURL:        p.url("EVENTLY_WEBHOOK_URL", "", "http", "https"),
		WebhookSecret:     getenv("EVENTLY_WEBHOOK_SECRET"),
		AutoMigrate:       p.boolean("EVENTLY_AUTO_MIGRATE", true),
		AuthRatePerMinute: p.nonNegativeInt("EVENTLY_AUTH_RATE_PER_MINUTE", 30),
		HoldRatePerMinute: p.nonNegativeInt("EVENTLY_HOLD_RATE_PER_MINUTE", 10),
		TrustedIPHeader:   strings.TrimSpace(getenv("EVENTLY_TRUSTED_IP_HEADER")),
		TrustedProxyHops:  p.positiveInt("EVENTLY_TRUSTED_PROXY_HOPS", 0),
		TrustedProxyCIDRs: p.prefixes("EVENTLY_TRUSTED_PROXY_CIDRS"),
		CORSOrigins:       p.list("EVENTLY_CORS_ORIGINS"),
		StorefrontURL:     p.url("EVENTLY_STOREFRONT_URL", "", "http", "https"),
		ShutdownTimeout:   p.duration("EVENTLY_SHUTDOWN_TIMEOUT", 8*time.Second),
		LogLevel:          p.logLevel("EVENTLY_LOG_LEVEL", slog.LevelInfo),
		LogFormat:         p.oneOf("EVENTLY_LOG_FORMAT", "json", "json", "text"),
	}

	secret := getenv("EVENTLY_JWT_SECRET")
	switch {
	case secret == "":
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			p.fail("EVENTLY_JWT_SECRET", "cannot generate a random secret: %v", err)
		}
		c.JWTSecret = []byte(hex.EncodeToString(b))
		c.JWTSecretGenerated = true
	case len(secret) < 32:
		p.fail("EVENTLY_JWT_SECRET", "must be at least 32 characters")
	default:
		c.JWTSecret = []byte(secret)
	}
	c.TicketSigningKey, c.TicketSigningKeyGenerated = p.ticketKey("EVENTLY_TICKET_SIGNING_KEY")
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		p.fail("EVENTLY_ADMIN_EMAIL", "EVENTLY_ADMIN_EMAIL and EVENTLY_ADMIN_PASSWORD must be set together")
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		p.fail("EVENTLY_WEBHOOK_SECRET", "required when EVENTLY_WEBHOOK_URL is set")
	}
	p.trustedProxies(&c)
	c.RedisCluster = p.redisCluster(c.RedisURL)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// xForwardedFor is the header whose entries TrustedProxyHops counts.
const xForwardedFor = "X-Forwarded-For"

// trustedProxies checks that the proxy settings fit the header together,
// and gives X-Forwarded-For its default of one hop.
func (p *parser) trustedProxies(c *Config) {
	xff := strings.EqualFold(c.TrustedIPHeader, xForwardedFor)
	switch {
	case c.TrustedProxyHops > 0 && len(c.TrustedProxyCIDRs) > 0:
		p.fail("EVENTLY_TRUSTED_PROXY_HOPS", "set either EVENTLY_TRUSTED_PROXY_HOPS or EVENTLY_TRUSTED_PROXY_CIDRS, not both")
	case c.TrustedProxyHops > 0 && !xff:
		p.fail("EVENTLY_TRUSTED_PROXY_HOPS", "counts X-Forwarded-For entries: requires EVENTLY_TRUSTED_IP_HEADER=X-Forwarded-For")
	case len(c.TrustedProxyCIDRs) > 0 && c.TrustedIPHeader == "":
		p.fail("EVENTLY_TRUSTED_PROXY_CIDRS", "requires EVENTLY_TRUSTED_IP_HEADER (the header those proxies set)")
	case xff && len(c.TrustedProxyCIDRs) == 0 && c.TrustedProxyHops == 0:
		c.TrustedProxyHops = 1
	}
}

// LogValue lists the configuration with every secret redacted, so that the
// whole Config can be logged at start-up.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", logging.RedactURL(c.DatabaseURL)),
		slog.String("redis_url", logging.RedactURL(c.RedisURL)),
		slog.Bool("redis_cluster", c.RedisCluster),
		slog.Int("port", c.Port),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("jwt_secret_generated", c.JWTSecretGenerated),
		slog.Bool("ticket_signing_key_generated", c.TicketSigningKeyGenerated),
		slog.String("admin_email", c.AdminEmail),
		slog.Duration("hold_ttl", c.HoldTTL),
		slog.Duration("waitlist_offer_ttl", c.WaitlistOfferTTL),
		slog.String("cleanup_schedule", c.CleanupSchedule),
		slog.String("webhook_url", logging.RedactURL(c.WebhookURL)),
		slog.Bool("auto_migrate", c.AutoMigrate),
		slog.Int("auth_rate_per_minute", c.AuthRatePerMinute),
		slog.Int("hold_rate_per_minute", c.HoldRatePerMinute),
		slog.String("trusted_ip_header", c.TrustedIPHeader),
		slog.Int("trusted_proxy_hops", c.TrustedProxyHops),
		slog.Any("trusted_proxy_cidrs", c.TrustedProxyCIDRs),
		slog.Any("cors_origins", c.CORSOrigins),
		slog.String("storefront_url", logging.RedactURL(c.StorefrontURL)),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *parser) lookup(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) url(name, def string, schemes ...string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	u, err := url.Parse(v)
	if err != nil {
		// The parse error quotes the URL, which may hold a password.
		p.fail(name, "not a valid URL")
		return def
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	p.fail(name, "scheme must be one of %s", strings.Join(schemes, ", "))
	return def
}

// redisCluster says whether REDIS_URL (raw) names a Redis Cluster, and
// checks what a cluster URL must be: seed nodes as host:port, database 0.
func (p *parser) redisCluster(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false // reported by url already
	}
	byScheme := strings.HasSuffix(u.Scheme, "+cluster")
	cluster := p.boolean("EVENTLY_REDIS_CLUSTER", false) || byScheme
	if !cluster {
		return false
	}
	if !byScheme && strings.Contains(u.Host, ",") {
		p.fail("REDIS_URL", "several hosts need the redis+cluster:// scheme")
	}
	for _, h := range strings.Split(u.Host, ",") {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			p.fail("REDIS_URL", "cluster node %q is not host:port", h)
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		p.fail("REDIS_URL", "a Redis Cluster has only database 0, not %q", db)
	}
	return true
}

// parsed reads the variable name with parse: def when it is unset, def
// and a failure ("... is not <want>") when parse refuses it.
func parsed[T any](p *parser, name string, def T, want string, parse func(string) (T, bool)) T {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	x, ok := parse(v)
	if !ok {
		p.fail(name, "%q is not %s", v, want)
		return def
	}
	return x
}

// intIn reads an integer from least to most.
func (p *parser) intIn(name string, def, least, most int, want string) int {
	return parsed(p, name, def, want, func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= least && n <= most
	})
}

func (p *parser) port(name string, def int) int {
	return p.intIn(name, def, 0, 65535, "a TCP port (0-65535)")
}

// listenAddr reads a host:port to listen on (an empty host: every
// interface; port 0: any free port); the value onAPI yields "".
func (p *parser) listenAddr(name, def, onAPI string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	if v == onAPI {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		p.fail(name, "%q is neither a host:port to listen on (such as 127.0.0.1:9090 or :9090) nor %q", v, onAPI)
		return def
	}
	return v
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	return parsed(p, name, def, "a positive Go duration such as 90s or 10m", func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0
	})
}

func (p *parser) schedule(name, def string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	if _, err := schedule.Parse(v); err != nil {
		p.fail(name, "%q: %v", v, err)
		return def
	}
	return v
}

func (p *parser) boolean(name string, def bool) bool {
	return parsed(p, name, def, "a boolean (true or false)", func(v string) (bool, bool) {
		b, err := strconv.ParseBool(v)
		return b, err == nil
	})
}

func (p *parser) nonNegativeInt(name string, def int) int {
	return p.intIn(name, def, 0, math.MaxInt, "a non-negative integer")
}

func (p *parser) positiveInt(name string, def int) int {
	return p.intIn(name, def, 1, math.MaxInt, "a positive integer")
}

// prefixes reads a comma-separated list of CIDR prefixes (a bare address
// stands for itself alone). IPv4 written as IPv6 (::ffff:10.0.0.0/104)
// becomes plain IPv4, the form client addresses are compared in.
func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.list(name) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil || addr.Zone() != "" {
				p.fail(name, "%q is not a CIDR prefix (such as 10.0.0.0/8 or 2001:db8::/32) or an IP address", s)
				continue
			}
			addr = addr.Unmap()
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		out = append(out, pfx.Masked())
	}
	return out
}

func (p *parser) list(name string) []string {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) logLevel(name string, def slog.Level) slog.Level {
	return parsed(p, name, def, "a log level (debug, info, warn, error)", func(v string) (slog.Level, bool) {
		var l slog.Level
		err := l.UnmarshalText([]byte(v))
		return l, err == nil
	})
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, "%q must be one of %s", v, strings.Join(allowed, ", "))
	return def
}
