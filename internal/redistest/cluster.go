package redistest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters on loopback ports, each a
// redis-server process with --cluster-enabled yes in a directory of its
// own, joined by redis-cli --cluster create. It keeps nothing on disk
// beyond its node files and is meant for tests.
type Cluster struct {
	// Addrs are the masters' host:port addresses.
	Addrs []string
	dir   string
	procs []*exec.Cmd
}

// clusterBusOffset is what Redis adds to a node's port for its cluster
// bus (the gossip between nodes), which must be free as well.
const clusterBusOffset = 10000

// ErrServerMissing reports that redis-server or redis-cli is not installed,
// so that no cluster can be started here.
var ErrServerMissing = errors.New("redis-server or redis-cli not found (Debian: apt-get install redis-server)")

// StartCluster starts a cluster of the given number of masters (3 at least,
// as redis-cli requires), waits until every node reports cluster_state:ok
// and knows every slot, and returns it. Stop ends it.
func StartCluster(ctx context.Context, masters int) (_ *Cluster, err error) {
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		return nil, ErrServerMissing
	}
	dir, err := os.MkdirTemp("", "evently-redis-cluster-")
	if err != nil {
		return nil, fmt.Errorf("redis cluster: %w", err)
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for i := range masters {
		if err := c.startNode(ctx, server, filepath.Join(dir, strconv.Itoa(i))); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create %s: %w\n%s", strings.Join(c.Addrs, " "), err, out)
	}
	if err := c.awaitOK(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// startNode starts one node on a free port pair (port and port+10000),
// trying other ports when another process takes one first.
func (c *Cluster) startNode(ctx context.Context, server, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("redis cluster: %w", err)
	}
	var last error
	for range 20 {
		port := 20000 + rand.IntN(30000)
		if !free(port) || !free(port+clusterBusOffset) {
			continue
		}
		cmd := exec.Command(server,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
			"--dir", dir, "--save", "", "--appendonly", "no",
			"--logfile", filepath.Join(dir, "redis.log"))
		// A node dies with the test binary even when it exits without
		// Stop (a panic, a timeout): the kernel signals it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("redis cluster: start redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if last = awaitPing(ctx, addr, exited); last == nil {
			c.procs = append(c.procs, cmd)
			c.Addrs = append(c.Addrs, addr)
			return nil
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	return fmt.Errorf("redis cluster: no node started: %v\n%s", last, log)
}

func free(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// awaitPing waits until addr answers PING, or the process exits.
func awaitPing(ctx context.Context, addr string, exited <-chan struct{}) error {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited: %w", addr, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s does not answer: %w", addr, err)
		}
	}
}

// awaitOK waits until every node says cluster_state:ok with all slots
// assigned: redis-cli returns once the slots are covered, but the other
// nodes may learn of them a moment later.
func (c *Cluster) awaitOK(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				return fmt.Errorf("redis cluster: node %s not ok after 30s: %v %s", addr, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rdb.Close()
	}
	return nil
}

// URL is the cluster's REDIS_URL: redis+cluster:// and every master.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs, ",") }

// Flush empties every master (FLUSHALL), so that the next test finds no
// keys, and no asynq queue, of the last.
func (c *Cluster) Flush(ctx context.Context) error {
	for _, addr := range c.Addrs {
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		err := rdb.FlushAll(ctx).Err()
		rdb.Close()
		if err != nil {
			return fmt.Errorf("redis cluster: flush %s: %w", addr, err)
		}
	}
	return nil
}

// Stop kills the nodes and removes their directory.
func (c *Cluster) Stop() {
	for _, p := range c.procs {
		_ = p.Process.Kill()
	}
	for _, p := range c.procs {
		_, _ = p.Process.Wait()
	}
	c.procs = nil
	_ = os.RemoveAll(c.dir)
}

// clusters is the test binary's pool of clusters: a test leases one for
// its duration (flushed before use), so parallel tests never share a
// cluster, and the pool grows only to the number of tests holding one at
// once. Main stops them when the tests end.
var clusters struct {
	sync.Mutex
	idle, all []*Cluster
}

// clusterMasters is the size of every test cluster.
const clusterMasters = 3

// NewClusterURL leases a 3-master cluster of the test binary's pool for t,
// emptied before use, and returns its URL. It skips t, saying why, where
// redis-server is not installed.
func NewClusterURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clusters.Lock()
	var c *Cluster
	if n := len(clusters.idle); n > 0 {
		c, clusters.idle = clusters.idle[n-1], clusters.idle[:n-1]
	}
	clusters.Unlock()
	if c == nil {
		var err error
		if c, err = StartCluster(ctx, clusterMasters); errors.Is(err, ErrServerMissing) {
			t.Skipf("Redis Cluster test skipped: %v", err)
		} else if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		clusters.Lock()
		clusters.all = append(clusters.all, c)
		clusters.Unlock()
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		clusters.Lock()
		clusters.idle = append(clusters.idle, c)
		clusters.Unlock()
	})
	return c.URL()
}

// Main runs the tests of a package that may use clusters and stops every
// cluster afterwards: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	clusters.Lock()
	for _, c := range clusters.all {
		c.Stop()
	}
	clusters.all, clusters.idle = nil, nil
	clusters.Unlock()
	os.Exit(code)
}
