package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evently/evently/internal/apptest"
)

// Loopback addresses stand for the machines of a deployment: every address
// of 127.0.0.0/8 is local on Linux, so a test can dial from any of them and
// evently sees them as distinct peers.
const (
	cdnAddr = "127.0.0.20" // the edge proxy's address towards the load balancer
	lbAddr  = "127.0.0.21" // the load balancer's address towards evently
)

// dialFrom returns an HTTP transport whose connections leave from the
// local address ip.
func dialFrom(ip string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Transport{DialContext: d.DialContext}
}

// reverseProxy starts a reverse proxy in front of target whose upstream
// connections leave from ip; like nginx, a cloud load balancer or a CDN,
// it appends the address of its peer to X-Forwarded-For. It returns the
// proxy's URL.
func reverseProxy(t *testing.T, target, ip string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = dialFrom(ip)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// authClient sends failed logins as one client address.
type authClient struct {
	t    *testing.T
	http *http.Client
	base string
	n    *atomic.Int64
}

// clientAt returns a client that connects from ip to base.
func clientAt(t *testing.T, ip, base string, n *atomic.Int64) authClient {
	return authClient{t: t, http: &http.Client{Transport: dialFrom(ip), Timeout: 30 * time.Second}, base: base, n: n}
}

// login sends a failed login (a new e-mail each time, so that only the
// per-address limit counts), with xff as the client's own X-Forwarded-For
// entries when given, and returns the status and Retry-After.
func (c authClient) login(xff ...string) (int, string) {
	c.t.Helper()
	body := fmt.Sprintf(`{"email":"nobody%d@example.com","password":"wrong password"}`, c.n.Add(1))
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, c.base+"/api/v1/auth/login", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(xff) > 0 {
		req.Header["X-Forwarded-For"] = xff
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("login: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// wantLogin fails t unless the login answered want (401: counted and let
// through; 429: over the limit, with Retry-After).
func wantLogin(t *testing.T, what string, want int, status int, retryAfter string) {
	t.Helper()
	if status != want {
		t.Errorf("%s = %d, want %d", what, status, want)
	}
	if status == http.StatusTooManyRequests && (retryAfter == "" || retryAfter == "0") {
		t.Errorf("%s: 429 with Retry-After %q", what, retryAfter)
	}
}

// TestAuthRateBehindProxyChain runs evently behind two real reverse
// proxies (an edge proxy, then a load balancer), each appending the address
// it saw to X-Forwarded-For, as Render's front (Cloudflare, then Render's
// proxy) does. Configured by hop count or by the proxies' addresses, the
// per-address login limit counts the real client: not a proxy (which would
// put every client in one budget), and not whatever the client writes into
// X-Forwarded-For itself.
func TestAuthRateBehindProxyChain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []apptest.Option
	}{
		{"hops", []apptest.Option{apptest.WithEnv("EVENTLY_TRUSTED_PROXY_HOPS", "2")}},
		{"cidrs", []apptest.Option{apptest.WithEnv("EVENTLY_TRUSTED_PROXY_CIDRS", cdnAddr+"/32, "+lbAddr)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := apptest.Start(t, append(tc.opts,
				apptest.WithEnv("EVENTLY_AUTH_RATE_PER_MINUTE", "3"),
				apptest.WithEnv("EVENTLY_TRUSTED_IP_HEADER", "X-Forwarded-For"))...)
			front := reverseProxy(t, reverseProxy(t, env.URL, lbAddr), cdnAddr)
			var n atomic.Int64
			alice := clientAt(t, "127.0.0.2", front, &n)
			bob := clientAt(t, "127.0.0.3", front, &n)

			for i := range 3 {
				s, ra := alice.login()
				wantLogin(t, fmt.Sprintf("alice's login %d", i+1), http.StatusUnauthorized, s, ra)
			}
			s, ra := alice.login()
			wantLogin(t, "alice's 4th login", http.StatusTooManyRequests, s, ra)
			// Entries alice writes herself stay left of her address.
			s, ra = alice.login("192.0.2.1, 192.0.2.2")
			wantLogin(t, "alice posing as 192.0.2.2", http.StatusTooManyRequests, s, ra)
			s, ra = alice.login("192.0.2.3", cdnAddr)
			wantLogin(t, "alice posing as the edge proxy", http.StatusTooManyRequests, s, ra)
			// Bob, behind the same proxies, has a budget of his own, and
			// cannot spend alice's.
			s, ra = bob.login()
			wantLogin(t, "bob's login", http.StatusUnauthorized, s, ra)
			s, ra = bob.login("127.0.0.2")
			wantLogin(t, "bob posing as alice", http.StatusUnauthorized, s, ra)

			if tc.name == "cidrs" {
				// A peer outside the trusted proxies is the client,
				// whatever X-Forwarded-For it sends.
				carol := clientAt(t, "127.0.0.4", env.URL, &n)
				s, ra = carol.login("127.0.0.3")
				wantLogin(t, "carol, straight to evently, posing as bob", http.StatusUnauthorized, s, ra)
				for range 2 {
					s, ra = carol.login("127.0.0.3")
					wantLogin(t, "carol's next logins", http.StatusUnauthorized, s, ra)
				}
				s, ra = carol.login("127.0.0.5")
				wantLogin(t, "carol's 4th login", http.StatusTooManyRequests, s, ra)
			}
		})
	}
}
