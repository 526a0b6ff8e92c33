// Package redis is Evently's only user of go-redis: the client, and (as the
// booking engine and waiting room arrive) the Lua scripts that keep seat
// locks and queues atomic.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open parses url, connects, and checks that the server answers.
func Open(ctx context.Context, url string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: not a valid redis:// or rediss:// URL")
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	c := goredis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis %s db=%d: %w", opts.Addr, opts.DB, err)
	}
	return c, nil
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
