// Command evently-sse-bench measures the live availability stream with
// many clients. It runs an evently in its own process (a database of its
// own, and a Redis database index leased the way the tests lease theirs),
// connects the clients to one event's availability stream from a child
// process — so that the memory measured is the server's alone — then holds
// one seat at a time and times, for every client, how long the change took
// from its publication on Redis to the client.
//
//	go run ./cmd/evently-sse-bench -clients 10000 -updates 20
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/app"
	"github.com/evently/evently/internal/auth"
	"github.com/evently/evently/internal/config"
	"github.com/evently/evently/internal/logging"
)

// childEnv marks the child process that runs the clients.
const childEnv = "EVENTLY_SSE_BENCH_CLIENTS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if os.Getenv(childEnv) != "" {
		err = runClients(ctx, os.Args[1:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "evently-sse-bench:", err)
		os.Exit(1)
	}
}

// options are the parent's flags.
type options struct {
	clients     int
	updates     int
	gap         time.Duration
	sourceAddrs int
	dialers     int
	databaseURL string
	redisURL    string
	jsonOut     string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evently-sse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.clients, "clients", 10_000, "concurrent stream clients")
	fs.IntVar(&o.updates, "updates", 20, "changes to fan out (one held seat each)")
	fs.DurationVar(&o.gap, "gap", time.Second, "pause between changes (above the stream's 250 ms coalescing, so each change is timed alone)")
	fs.IntVar(&o.sourceAddrs, "source-addrs", 4, "loopback source addresses the clients spread over (127.0.0.2 ...), against ephemeral-port exhaustion")
	fs.IntVar(&o.dialers, "dialers", 100, "clients connecting at once")
	fs.StringVar(&o.databaseURL, "database-url", orDefault(getenv("BENCH_DATABASE_URL"),
		"postgres://postgres@127.0.0.1:5432/evently_ssebench?sslmode=disable"), "Postgres (the database is created if missing)")
	fs.StringVar(&o.redisURL, "redis-url", orDefault(getenv("BENCH_REDIS_URL"), "redis://127.0.0.1:6379"),
		"Redis server; a free database index is leased on it")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.clients < 1 || o.updates < 1 || o.sourceAddrs < 1 || o.sourceAddrs > 250 || o.dialers < 1 {
		return errors.New("-clients, -updates and -dialers must be positive, -source-addrs 1 to 250")
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	if need := uint64(o.clients) + 500; limit < need {
		return fmt.Errorf("open-file limit %d is below the %d this needs (raise the hard limit: ulimit -Hn)", limit, need)
	}

	redisURL, release, err := leaseRedisDB(ctx, o.redisURL)
	if err != nil {
		return err
	}
	defer release()
	secret := randomHex(32)
	env := map[string]string{
		"DATABASE_URL":                 o.databaseURL,
		"REDIS_URL":                    redisURL,
		"EVENTLY_JWT_SECRET":           secret,
		"EVENTLY_LOG_LEVEL":            "warn",
		"EVENTLY_METRICS_ADDR":         "127.0.0.1:0",
		"EVENTLY_AUTH_RATE_PER_MINUTE": "0",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	runCtx, stopServer := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(stderr, slog.LevelWarn, "text"), app.Options{Listener: ln})
	if err != nil {
		stopServer()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- a.Run(runCtx) }()
	defer func() {
		stopServer()
		<-served
	}()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "evently on %s; %d clients from %d loopback addresses, %d changes\n", base, o.clients, o.sourceAddrs, o.updates)

	ev, buyer, err := prepare(ctx, base, o.databaseURL, secret)
	if err != nil {
		return err
	}
	before := sampleMemory()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.CommandContext(ctx, exe,
		"-url", base+"/api/v1/events/"+ev+"/availability/stream",
		"-event", ev, "-redis-url", redisURL,
		"-clients", strconv.Itoa(o.clients), "-updates", strconv.Itoa(o.updates),
		"-source-addrs", strconv.Itoa(o.sourceAddrs), "-dialers", strconv.Itoa(o.dialers))
	child.Env = append(os.Environ(), childEnv+"=1")
	child.Stderr = stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 64<<10), 16<<20)
	readLine := func(prefix string, timeout time.Duration) (string, error) {
		got := make(chan bool, 1)
		go func() { got <- lines.Scan() }()
		select {
		case ok := <-got:
			if !ok {
				return "", fmt.Errorf("the clients' process ended (%v) while %q was awaited", lines.Err(), prefix)
			}
			l := lines.Text()
			if !strings.HasPrefix(l, prefix) {
				return "", fmt.Errorf("the clients' process said %q, want %q", l, prefix)
			}
			return strings.TrimSpace(strings.TrimPrefix(l, prefix)), nil
		case <-time.After(timeout):
			return "", fmt.Errorf("no %q from the clients' process within %v", prefix, timeout)
		}
	}

	connected, err := readLine("connected ", 5*time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "connected: %s\n", connected)
	time.Sleep(3 * time.Second) // let connection set-up garbage go
	after := sampleMemory()

	for k := 1; k <= o.updates; k++ {
		if err := holdOne(ctx, base, ev, buyer); err != nil {
			return fmt.Errorf("change %d: %w", k, err)
		}
		if _, err := readLine(fmt.Sprintf("round %d ", k), 30*time.Second); err != nil {
			return err
		}
		time.Sleep(o.gap)
	}
	raw, err := readLine("result ", time.Minute)
	if err != nil {
		return err
	}
	var res clientResult
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		return fmt.Errorf("decode the clients' result: %w", err)
	}
	rep := report{
		Clients:       o.clients,
		Connected:     res.Connected,
		ConnectSecs:   res.ConnectSecs,
		Updates:       o.updates,
		Deliveries:    res.Deliveries,
		Missed:        res.Missed,
		LatencyMillis: res.LatencyMillis,
		PerClient:     perClient(before, after, res.Connected),
		Before:        before,
		After:         after,
	}
	rep.print(stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	if res.Missed > 0 {
		return fmt.Errorf("%d deliveries missed", res.Missed)
	}
	return nil
}

// prepare creates a published event (10,000 general-admission seats in
// four sections) and a buyer, and returns their ids (the buyer as a
// token).
func prepare(ctx context.Context, base, databaseURL, secret string) (eventID, buyerToken string, err error) {
	tokens := auth.NewTokens([]byte(secret), time.Hour, nil)
	admin, err := tokens.Issue(auth.Principal{UserID: uuid.New(), Role: auth.RoleAdmin})
	if err != nil {
		return "", "", err
	}
	var sections []any
	for _, name := range []string{"North", "East", "South", "West"} {
		sections = append(sections, map[string]any{"name": name, "price_cents": 5000, "capacity": 2500})
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := call(ctx, base, http.MethodPost, "/api/v1/admin/events", admin, map[string]any{
		"name": "Stream benchmark", "venue": "Arena", "category": "music", "status": "published",
		"starts_at": time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339), "sections": sections,
	}, http.StatusCreated, &e); err != nil {
		return "", "", fmt.Errorf("create the event: %w", err)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return "", "", err
	}
	defer pool.Close()
	buyer := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, role) VALUES ($1, $2, 'Buyer', 'x', 'user')`,
		buyer, "sse-bench-"+buyer.String()+"@example.com"); err != nil {
		return "", "", fmt.Errorf("create the buyer: %w", err)
	}
	tok, err := tokens.Issue(auth.Principal{UserID: buyer, Role: auth.RoleUser})
	return e.ID, tok, err
}

// holdOne holds one seat: one change of the event's counts.
func holdOne(ctx context.Context, base, eventID, token string) error {
	return call(ctx, base, http.MethodPost, "/api/v1/bookings", token,
		map[string]any{"event_id": eventID, "quantity": 1}, http.StatusCreated, nil)
}

func call(ctx context.Context, base, method, path, token string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// memory is the process's memory at one moment, after two collections.
type memory struct {
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"go_sys_bytes"`
	RSS        uint64 `json:"rss_bytes"`
	Goroutines int    `json:"goroutines"`
}

func sampleMemory() memory {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memory{HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, RSS: rss(), Goroutines: runtime.NumGoroutine()}
}

// rss reads the process's resident set from /proc (0 where there is none).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// perClientMemory is the server's growth per connected client.
type perClientMemory struct {
	HeapBytes  float64 `json:"heap_bytes"`
	StackBytes float64 `json:"stack_bytes"`
	RSSBytes   float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
}

func perClient(before, after memory, n int) perClientMemory {
	if n == 0 {
		return perClientMemory{}
	}
	d := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return perClientMemory{
		HeapBytes:  d(after.HeapInuse, before.HeapInuse),
		StackBytes: d(after.StackInuse, before.StackInuse),
		RSSBytes:   d(after.RSS, before.RSS),
		Goroutines: float64(after.Goroutines-before.Goroutines) / float64(n),
	}
}

type report struct {
	Clients       int                `json:"clients"`
	Connected     int                `json:"connected"`
	ConnectSecs   float64            `json:"connect_seconds"`
	Updates       int                `json:"updates"`
	Deliveries    int                `json:"deliveries"`
	Missed        int                `json:"missed"`
	LatencyMillis map[string]float64 `json:"latency_ms"`
	PerClient     perClientMemory    `json:"server_memory_per_client"`
	Before        memory             `json:"server_before"`
	After         memory             `json:"server_after"`
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%d of %d clients connected in %.1f s\n", r.Connected, r.Clients, r.ConnectSecs)
	fmt.Fprintf(w, "server memory per client: heap %.1f KiB + goroutine stacks %.1f KiB (RSS %.1f KiB); %.2f goroutines\n",
		r.PerClient.HeapBytes/1024, r.PerClient.StackBytes/1024, r.PerClient.RSSBytes/1024, r.PerClient.Goroutines)
	fmt.Fprintf(w, "server RSS %.0f MiB before the clients, %.0f MiB with them\n", float64(r.Before.RSS)/(1<<20), float64(r.After.RSS)/(1<<20))
	fmt.Fprintf(w, "%d changes × %d clients: %d deliveries, %d missed\n", r.Updates, r.Connected, r.Deliveries, r.Missed)
	fmt.Fprintf(w, "publish → client latency: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		r.LatencyMillis["p50"], r.LatencyMillis["p90"], r.LatencyMillis["p99"], r.LatencyMillis["max"])
}

// raiseFileLimit lifts the soft open-file limit to the hard one and
// returns it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// leaseRedisDB leases a database index on the Redis server the way the
// tests do (a lease key in database 0), so that a benchmark and a test run
// never share one, and flushes it; release gives it back.
func leaseRedisDB(ctx context.Context, server string) (string, func(), error) {
	opts, err := goredis.ParseURL(server)
	if err != nil {
		return "", nil, fmt.Errorf("parse -redis-url: %w", err)
	}
	opts.DB = 0
	ctl := goredis.NewClient(opts)
	token := randomHex(8)
	for db := 15; db >= 1; db-- {
		key := "evently-test:lease:" + strconv.Itoa(db)
		ok, err := ctl.SetNX(ctx, key, token, 30*time.Minute).Result()
		if err != nil {
			ctl.Close()
			return "", nil, fmt.Errorf("lease a Redis database: %w", err)
		}
		if !ok {
			continue
		}
		dbOpts := *opts
		dbOpts.DB = db
		c := goredis.NewClient(&dbOpts)
		err = c.FlushDB(ctx).Err()
		c.Close()
		if err != nil {
			ctl.Close()
			return "", nil, err
		}
		release := func() {
			if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
				ctl.Del(context.Background(), key)
			}
			ctl.Close()
		}
		u := strings.TrimRight(server, "/")
		if i := strings.LastIndex(u, "/"); i > len("redis://") {
			u = u[:i]
		}
		return u + "/" + strconv.Itoa(db), release, nil
	}
	ctl.Close()
	return "", nil, errors.New("no free Redis database index to lease")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// clientResult is what the clients' process reports at the end.
type clientResult struct {
	Connected     int                `json:"connected"`
	ConnectSecs   float64            `json:"connect_seconds"`
	Deliveries    int                `json:"deliveries"`
	Missed        int                `json:"missed"`
	LatencyMillis map[string]float64 `json:"latency_ms"`
}

// runClients is the child: it connects the clients, tells the parent when
// all have their first event, reports each change once every client has
// it, and ends with the latencies. A change's publication time is when
// this process's own Redis subscription received it.
func runClients(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	var (
		streamURL, eventID, redisURL string
		n, updates, addrs, dialers   int
	)
	fs.StringVar(&streamURL, "url", "", "")
	fs.StringVar(&eventID, "event", "", "")
	fs.StringVar(&redisURL, "redis-url", "", "")
	fs.IntVar(&n, "clients", 0, "")
	fs.IntVar(&updates, "updates", 0, "")
	fs.IntVar(&addrs, "source-addrs", 1, "")
	fs.IntVar(&dialers, "dialers", 100, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ps := rdb.Subscribe(ctx, "changes:{"+eventID+"}")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		return fmt.Errorf("subscribe to the event's changes: %w", err)
	}
	var (
		noticeMu sync.Mutex
		notices  []int64
	)
	go func() {
		for range ps.Channel() {
			t := time.Now().UnixNano()
			noticeMu.Lock()
			notices = append(notices, t)
			noticeMu.Unlock()
		}
	}()

	u, err := parseStreamURL(streamURL)
	if err != nil {
		return err
	}
	// received[k][i] is when client i got change k (0: not yet); counts[k]
	// how many clients have it.
	received := make([][]int64, updates+1)
	for k := range received {
		received[k] = make([]int64, n)
	}
	counts := make([]atomic.Int64, updates+1)
	var failed atomic.Int64
	start := time.Now()
	sem := make(chan struct{}, dialers)
	for i := range n {
		sem <- struct{}{}
		go func() {
			connecting := true
			defer func() {
				if connecting {
					<-sem
				}
			}()
			err := follow(ctx, u, i, addrs, func(held int) {
				if connecting {
					connecting = false
					<-sem
				}
				if held >= 0 && held <= updates && atomic.LoadInt64(&received[held][i]) == 0 {
					atomic.StoreInt64(&received[held][i], time.Now().UnixNano())
					counts[held].Add(1)
				}
			})
			if err != nil && ctx.Err() == nil {
				if failed.Add(1) <= 5 {
					fmt.Fprintln(os.Stderr, "client:", err)
				}
			}
		}()
	}
	// Everyone has the initial state (nothing held).
	connected := waitCount(&counts[0], int64(n), 5*time.Minute, &failed)
	connectSecs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "connected %d clients in %.1f s (%d failed)\n", connected, connectSecs, failed.Load())
	for k := 1; k <= updates; k++ {
		got := waitCount(&counts[k], connected, 20*time.Second, nil)
		fmt.Fprintf(stdout, "round %d %d\n", k, got)
	}
	time.Sleep(200 * time.Millisecond)
	noticeMu.Lock()
	published := slices.Clone(notices)
	noticeMu.Unlock()
	if len(published) < updates {
		return fmt.Errorf("%d change notices seen for %d changes", len(published), updates)
	}
	var lat []float64
	missed := 0
	for k := 1; k <= updates; k++ {
		t0 := published[k-1]
		for i := range n {
			t := atomic.LoadInt64(&received[k][i])
			if atomic.LoadInt64(&received[0][i]) == 0 {
				continue // never connected
			}
			if t == 0 {
				missed++
				continue
			}
			lat = append(lat, float64(t-t0)/1e6)
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	res := clientResult{
		Connected: int(connected), ConnectSecs: connectSecs, Deliveries: len(lat), Missed: missed,
		LatencyMillis: map[string]float64{"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1)},
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "result %s\n", b)
	return nil
}

// waitCount waits until c reaches want (less what failed), or timeout.
func waitCount(c *atomic.Int64, want int64, timeout time.Duration, failed *atomic.Int64) int64 {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f := int64(0)
		if failed != nil {
			f = failed.Load()
		}
		if c.Load()+f >= want {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c.Load()
}

type streamTarget struct {
	host, path string
}

func parseStreamURL(raw string) (streamTarget, error) {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		return streamTarget{}, fmt.Errorf("stream URL %q: want http://", raw)
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok {
		return streamTarget{}, fmt.Errorf("stream URL %q has no path", raw)
	}
	return streamTarget{host: host, path: "/" + path}, nil
}

// follow is one client: it connects from its loopback source address,
// reads the stream, and calls got with the event's held count for every
// availability event, until the stream or ctx ends.
func follow(ctx context.Context, t streamTarget, i, addrs int, got func(held int)) error {
	d := net.Dialer{
		Timeout:   30 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%addrs))},
	}
	conn, err := d.DialContext(ctx, "tcp", t.host)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", t.path, t.host); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream answered %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		// The event's own held count comes before its sections'.
		_, after, ok := bytes.Cut(data, []byte(`"held":`))
		if !ok {
			continue
		}
		end := bytes.IndexAny(after, ",}")
		if end < 0 {
			continue
		}
		held, err := strconv.Atoi(string(after[:end]))
		if err != nil {
			continue
		}
		got(held)
	}
	return sc.Err()
}
