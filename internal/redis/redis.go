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
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open parses url and returns a client, waiting up to 5 seconds for the
// server to answer. A server that does not answer is no error: Redis is the
// fast filter and the queue, not the truth, so the process starts without
// it (degraded: bookings on Postgres alone, no waiting room, no queues) and
// the client connects as soon as it can — every command tries, and its pool
// probes every second. Open logs the outage, keeps pinging in the
// background, and logs Redis' return; that goroutine ends with the client.
func Open(ctx context.Context, url string, logger *slog.Logger) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: not a valid redis:// or rediss:// URL")
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	c := goredis.NewClient(opts)
	if err := ping(ctx, c, 5*time.Second); err != nil {
		if ctx.Err() != nil {
			c.Close()
			return nil, fmt.Errorf("ping redis %s db=%d: %w", opts.Addr, opts.DB, err)
		}
		logger.Warn("Redis does not answer: starting without it (degraded) and retrying in the background",
			"addr", opts.Addr, "db", opts.DB, "err", err)
		go awaitServer(c, logger, opts.Addr)
	}
	return c, nil
}

// awaitInterval is the pause between the pings of a server that did not
// answer at start-up.
const awaitInterval = time.Second

// awaitServer pings c until it answers, then logs it; it stops early when c
// is closed.
func awaitServer(c *goredis.Client, logger *slog.Logger, addr string) {
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

func ping(ctx context.Context, c *goredis.Client, timeout time.Duration) error {
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
