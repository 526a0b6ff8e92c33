// Package redis is where Evently talks to Redis: the client (which asynq
// shares), the Lua scripts that keep seat locks and the waiting room
// atomic, the rate limits shared by every replica (holds, logins, failed
// logins), the waitlist offer markers and the pub/sub of live change
// notices.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open parses url and returns a client, waiting up to 5 seconds for the
// server to answer. With cluster set, url names a Redis Cluster
// (redis+cluster://h1:p1,h2:p2 or a redis:// URL of one seed node) and the
// client follows the cluster's slots; every multi-key script of this
// package touches keys of one hash tag, so each runs on one node.
//
// A server that does not answer is no error: Redis is the fast filter and
// the queue, not the truth, so the process starts without it (degraded:
// bookings on Postgres alone, no waiting room, no queues) and the client
// connects as soon as it can — every command tries, and its pool probes
// every second. Open logs the outage, keeps pinging in the background, and
// logs Redis' return; that goroutine ends with the client.
func Open(ctx context.Context, url string, cluster bool, logger *slog.Logger) (goredis.UniversalClient, error) {
	c, where, err := NewClient(url, cluster)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, c, 5*time.Second); err != nil {
		if ctx.Err() != nil {
			c.Close()
			return nil, fmt.Errorf("ping redis %s: %w", where, err)
		}
		logger.Warn("Redis does not answer: starting without it (degraded) and retrying in the background",
			"addr", where, "err", err)
		go awaitServer(c, logger, where)
	}
	return c, nil
}

// NewClient parses url (see Open) and returns its client, not yet
// connected, and the address or addresses it names, for messages.
func NewClient(url string, cluster bool) (goredis.UniversalClient, string, error) {
	if !cluster {
		opts, err := goredis.ParseURL(url)
		if err != nil {
			return nil, "", errors.New("parse REDIS_URL: not a valid redis:// or rediss:// URL")
		}
		opts.DialTimeout = 2 * time.Second
		opts.ReadTimeout = 2 * time.Second
		opts.WriteTimeout = 2 * time.Second
		return goredis.NewClient(opts), fmt.Sprintf("%s db=%d", opts.Addr, opts.DB), nil
	}
	opts, err := parseClusterURL(url)
	if err != nil {
		return nil, "", err
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	return goredis.NewClusterClient(opts), "cluster " + strings.Join(opts.Addrs, ","), nil
}

// parseClusterURL reads redis+cluster://[user:pass@]h1:p1,h2:p2[?opts]
// (rediss+cluster for TLS), or a redis:// or rediss:// URL of one seed
// node, into cluster options: go-redis's own cluster URL form
// (redis://h1:p1?addr=h2:p2) with the seed list written as hosts.
func parseClusterURL(raw string) (*goredis.ClusterOptions, error) {
	bad := errors.New("parse REDIS_URL: not a valid redis+cluster://host:port,host:port URL")
	u, err := neturl.Parse(raw)
	if err != nil {
		return nil, bad
	}
	u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, bad
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return nil, errors.New("parse REDIS_URL: a Redis Cluster has only database 0")
	}
	u.Path = ""
	hosts := strings.Split(u.Host, ",")
	u.Host = hosts[0]
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	opts, err := goredis.ParseClusterURL(u.String())
	if err != nil {
		return nil, bad
	}
	return opts, nil
}

// awaitInterval is the pause between the pings of a server that did not
// answer at start-up.
const awaitInterval = time.Second

// awaitServer pings c until it answers, then logs it; it stops early when c
// is closed.
func awaitServer(c goredis.UniversalClient, logger *slog.Logger, addr string) {
	for {
		time.Sleep(awaitInterval)
		err := ping(context.Background(), c, 2*time.Second)
		switch {
		case err == nil:
			logger.Info("Redis answers: the waiting room, queues and seat locks are back", "addr", addr)
			return
		case errors.Is(err, goredis.ErrClosed):
			return
		}
	}
}

func ping(ctx context.Context, c goredis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// RouteLibraryLogs sends go-redis's own log lines (reconnect attempts and
// the like) to logger instead of stderr. go-redis keeps its logger in a
// package variable, so this is set once, by main.
func RouteLibraryLogs(logger *slog.Logger) {
	goredis.SetLogger(libLogger{logger})
}

type libLogger struct{ l *slog.Logger }

func (g libLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
