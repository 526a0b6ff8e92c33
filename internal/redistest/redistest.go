// Package redistest gives each test a Redis database of its own: a
// database index leased for the test's duration and flushed before use, so
// that tests (and the asynq servers inside them) cannot see each other's
// keys. With EVENTLY_TEST_REDIS_CLUSTER=true (see testenv), the same tests
// run on a Redis Cluster instead: a 3-master cluster of the test binary's
// own, leased for the test's duration and flushed before use.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/testenv"
)

const (
	leasePrefix = "evently-test:lease:"
	leaseTTL    = 30 * time.Minute
	// Index 0 holds the leases and is what a developer's evently uses.
	firstIndex = 1
)

// New returns a client on a freshly flushed database of its own (a cluster
// client on a cluster of its own in cluster mode).
func New(t testing.TB) goredis.UniversalClient {
	t.Helper()
	if testenv.RedisCluster() {
		u, err := url.Parse(NewClusterURL(t))
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(u.Host, ",")})
		t.Cleanup(func() { c.Close() })
		return c
	}
	opts, err := goredis.ParseURL(NewURL(t))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// NewURL leases a database index for t and returns its URL; in cluster
// mode, a cluster (NewClusterURL).
func NewURL(t testing.TB) string {
	t.Helper()
	if testenv.RedisCluster() {
		return NewClusterURL(t)
	}
	server := testenv.RedisURL(t)
	opts, err := goredis.ParseURL(server)
	if err != nil {
		t.Fatalf("redistest: parse %s: %v", server, err)
	}
	opts.DB = 0
	ctl := goredis.NewClient(opts)
	defer ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	databases := 16
	if v, err := ctl.ConfigGet(ctx, "databases").Result(); err == nil {
		if n, err := strconv.Atoi(v["databases"]); err == nil {
			databases = n
		}
	}
	token := randomHex(8)
	for {
		for db := firstIndex; db < databases; db++ {
			key := leasePrefix + strconv.Itoa(db)
			ok, err := ctl.SetNX(ctx, key, token, leaseTTL).Result()
			if err != nil {
				t.Fatalf("redistest: lease a database on %s: %v", server, err)
			}
			if !ok {
				continue
			}
			opts.DB = db
			c := goredis.NewClient(opts)
			err = c.FlushDB(ctx).Err()
			c.Close()
			if err != nil {
				t.Fatalf("redistest: flush db %d: %v", db, err)
			}
			t.Cleanup(func() { release(server, key, token) })
			return withDB(server, db)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: no free Redis database index on %s after 2 minutes", server)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var releaseScript = goredis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

func release(server, key, token string) {
	opts, err := goredis.ParseURL(server)
	if err != nil {
		return
	}
	opts.DB = 0
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, c, []string{key}, token).Err()
}

func withDB(server string, db int) string {
	u, err := url.Parse(server)
	if err != nil {
		panic(fmt.Sprintf("redistest: bad server URL: %v", err))
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Keys lists the keys matching pattern on every node of rdb: KEYS on a
// single server, or on each master of a cluster.
func Keys(t testing.TB, rdb goredis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	c, ok := rdb.(*goredis.ClusterClient)
	if !ok {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatalf("redistest: keys %s: %v", pattern, err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		ks, err := m.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("redistest: keys %s: %v", pattern, err)
	}
	return keys
}
