package redistest_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/redistest"
)

// TestClusterSlots starts (or leases) a 3-master cluster and checks what
// the rest of the suite relies on: keys of one hash tag live on one node
// and a script may touch them together, keys of two tags are refused
// together (CROSSSLOT), and keys spread over all three masters.
func TestClusterSlots(t *testing.T) {
	ctx := context.Background()
	u := redistest.NewClusterURL(t)
	addrs := strings.Split(strings.TrimPrefix(u, "redis+cluster://"), ",")
	if len(addrs) != 3 {
		t.Fatalf("cluster URL %q, want 3 masters", u)
	}
	c := clusterClient(u)
	defer c.Close()

	script := goredis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1`)
	if err := script.Run(ctx, c, []string{"seat:{e1}:a", "seat:{e1}:b"}, "x").Err(); err != nil {
		t.Fatalf("script on one hash tag: %v", err)
	}
	err := script.Run(ctx, c, []string{"seat:{e1}:c", "seat:{e2}:d"}, "x").Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("script over two hash tags: err = %v, want CROSSSLOT", err)
	}

	nodes := map[string]bool{}
	for i := range 64 {
		key := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := c.Set(ctx, key, 1, 0).Err(); err != nil {
			t.Fatal(err)
		}
		slot, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		nodes[nodeOf(t, c, slot)] = true
	}
	if len(nodes) != 3 {
		t.Errorf("64 keys landed on %d nodes, want all 3", len(nodes))
	}

}

// TestClusterLeaseIsFlushed: a cluster given back by one test is empty
// when the next one leases it.
func TestClusterLeaseIsFlushed(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("write", func(t *testing.T) {
		first = redistest.NewClusterURL(t)
		c := clusterClient(first)
		defer c.Close()
		for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
			if err := c.Set(ctx, k, 1, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	again := redistest.NewClusterURL(t)
	if again != first {
		t.Fatalf("the idle cluster %s was not leased again (got %s)", first, again)
	}
	c := clusterClient(again)
	defer c.Close()
	var keys atomic.Int64 // ForEachMaster calls back from a goroutine per master
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		n, err := m.DBSize(ctx).Result()
		keys.Add(n)
		return err
	})
	if err != nil || keys.Load() != 0 {
		t.Fatalf("keys after a new lease = %d, %v; want 0", keys.Load(), err)
	}
}

func clusterClient(u string) *goredis.ClusterClient {
	return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(strings.TrimPrefix(u, "redis+cluster://"), ",")})
}

// nodeOf names the master that serves slot.
func nodeOf(t *testing.T, c *goredis.ClusterClient, slot int64) string {
	t.Helper()
	shards, err := c.ClusterShards(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				}
			}
		}
	}
	t.Fatalf("no node serves slot %d", slot)
	return ""
}
