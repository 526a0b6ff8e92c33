package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	xff := func(v ...string) http.Header { return http.Header{"X-Forwarded-For": v} }
	tests := []struct {
		name    string
		trusted string
		peer    string
		header  http.Header
		want    string
		hops    int
		cidrs   []netip.Prefix
	}{
		{"peer", "", "192.0.2.1:5000", nil, "192.0.2.1", 0, nil},
		{"untrusted header ignored", "", "192.0.2.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.1", 0, nil},
		{"v4-mapped peer", "", "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1", 0, nil},
		{"v6 peer by /64", "", "[2001:db8:1:2:3:4:5:6]:5000", nil, "2001:db8:1:2::", 0, nil},
		{"xff single", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", 0, nil},
		{"xff right-most", "x-forwarded-for", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1"}}, "198.51.100.1", 0, nil},
		{"xff right-most of several headers", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9", "198.51.100.1"}}, "198.51.100.1", 0, nil},
		{"xff missing: peer", "X-Forwarded-For", "10.0.0.1:5000", nil, "10.0.0.1", 0, nil},
		{"xff garbage: peer", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1, garbage"}}, "10.0.0.1", 0, nil},
		{"xff v6 by /64", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::", 0, nil},
		{"x-real-ip", "X-Real-IP", "10.0.0.1:5000", http.Header{"X-Real-Ip": {"198.51.100.7"}}, "198.51.100.7", 0, nil},
		{"x-real-ip last value", "X-Real-IP", "10.0.0.1:5000", http.Header{"X-Real-Ip": {"203.0.113.9", "198.51.100.7"}}, "198.51.100.7", 0, nil},
		{"x-real-ip missing: peer", "X-Real-IP", "10.0.0.1:5000", nil, "10.0.0.1", 0, nil},

		// Behind two proxies (a CDN, then a load balancer), each appending
		// the address it saw: the client is the second entry from the right.
		{"two hops", "X-Forwarded-For", "10.0.0.1:5000", xff("198.51.100.1, 203.0.113.50"), "198.51.100.1", 2, nil},
		{"two hops, spoofed entries on the left", "X-Forwarded-For", "10.0.0.1:5000",
			xff("192.0.2.66, 192.0.2.67, 198.51.100.1, 203.0.113.50"), "198.51.100.1", 2, nil},
		{"two hops, spoof in a header of its own", "X-Forwarded-For", "10.0.0.1:5000",
			xff("192.0.2.66", "198.51.100.1, 203.0.113.50"), "198.51.100.1", 2, nil},
		{"two hops, one entry: peer", "X-Forwarded-For", "10.0.0.1:5000", xff("198.51.100.1"), "10.0.0.1", 2, nil},
		{"three hops", "X-Forwarded-For", "10.0.0.1:5000", xff("192.0.2.66, 198.51.100.1, 203.0.113.50, 10.9.9.9"), "198.51.100.1", 3, nil},

		// Trusted CIDRs: walk from the right past the proxies' entries.
		{"cidrs", "X-Forwarded-For", "10.0.0.1:5000", xff("198.51.100.1, 10.2.3.4"), "198.51.100.1", 0, lb},
		{"cidrs, spoofed entries on the left", "X-Forwarded-For", "10.0.0.1:5000",
			xff("192.0.2.66, 198.51.100.1, 10.2.3.4, 10.5.6.7"), "198.51.100.1", 0, lb},
		{"cidrs, spoofed trusted address on the left", "X-Forwarded-For", "10.0.0.1:5000",
			xff("10.66.66.66, 198.51.100.1, 10.2.3.4"), "198.51.100.1", 0, lb},
		{"cidrs, untrusted peer: header ignored", "X-Forwarded-For", "192.0.2.9:5000", xff("198.51.100.1"), "192.0.2.9", 0, lb},
		{"cidrs, v6 proxy", "X-Forwarded-For", "[2001:db8:ffff::1]:5000", xff("198.51.100.1, 2001:db8:ffff::2"), "198.51.100.1", 0, lb},
		{"cidrs, v4-mapped peer", "X-Forwarded-For", "[::ffff:10.0.0.1]:5000", xff("198.51.100.1"), "198.51.100.1", 0, lb},
		{"cidrs, all trusted: peer", "X-Forwarded-For", "10.0.0.1:5000", xff("10.2.3.4"), "10.0.0.1", 0, lb},
		{"cidrs, garbage: peer", "X-Forwarded-For", "10.0.0.1:5000", xff("198.51.100.1, garbage, 10.2.3.4"), "10.0.0.1", 0, lb},
		{"x-real-ip from a trusted peer", "X-Real-IP", "10.0.0.1:5000", http.Header{"X-Real-Ip": {"198.51.100.7"}}, "198.51.100.7", 0, lb},
		{"x-real-ip from an untrusted peer", "X-Real-IP", "192.0.2.9:5000", http.Header{"X-Real-Ip": {"198.51.100.7"}}, "192.0.2.9", 0, lb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			h := clientIP(ClientAddress{Header: tc.trusted, Hops: tc.hops, CIDRs: tc.cidrs})(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, _ = clientIPKey(r)
			}))
			r := httptest.NewRequest("POST", "/api/v1/auth/login", nil)
			r.RemoteAddr = tc.peer
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("client address = %q, want %q", got, tc.want)
			}
		})
	}
}
