package redis_test

import (
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/redis"
)

func TestNewClientReadsClusterURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url      string
		addrs    []string
		password string
		tls      bool
	}{
		{"redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002", []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}, "", false},
		{"rediss+cluster://:s3cret@a.example:6380,b.example:6380/0", []string{"a.example:6380", "b.example:6380"}, "s3cret", true},
		{"redis://seed:7000", []string{"seed:7000"}, "", false},
		{"redis+cluster://a:7000,b:7001?dial_timeout=3s", []string{"a:7000", "b:7001"}, "", false},
	} {
		c, _, err := redis.NewClient(tc.url, true)
		if err != nil {
			t.Errorf("NewClient(%q) error = %v", tc.url, err)
			continue
		}
		cc, ok := c.(*goredis.ClusterClient)
		if !ok {
			t.Errorf("NewClient(%q) = %T, want a cluster client", tc.url, c)
			continue
		}
		o := cc.Options()
		if !slices.Equal(o.Addrs, tc.addrs) || o.Password != tc.password || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("NewClient(%q) = addrs %v, password %q, TLS %v; want %v, %q, %v", tc.url, o.Addrs, o.Password, o.TLSConfig != nil, tc.addrs, tc.password, tc.tls)
		}
		_ = c.Close()
	}
	for _, bad := range []string{"redis+cluster://a:7000,b:7001/2", "http://a:7000", "redis+cluster://a:7000?nonsense=1"} {
		if c, _, err := redis.NewClient(bad, true); err == nil {
			_ = c.Close()
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	c, _, err := redis.NewClient("redis://127.0.0.1:6379/3", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc, ok := c.(*goredis.Client); !ok || sc.Options().DB != 3 {
		t.Errorf("NewClient(single) = %T, want a client on db 3", c)
	}
}
