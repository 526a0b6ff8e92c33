package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted string
		peer    string
		header  http.Header
		want    string
	}{
		{"peer", "", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"untrusted header ignored", "", "192.0.2.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.1"},
		{"v4-mapped peer", "", "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
		{"v6 peer by /64", "", "[2001:db8:1:2:3:4:5:6]:5000", nil, "2001:db8:1:2::"},
		{"xff single", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"xff right-most", "x-forwarded-for", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1"}}, "198.51.100.1"},
		{"xff right-most of several headers", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9", "198.51.100.1"}}, "198.51.100.1"},
		{"xff missing: peer", "X-Forwarded-For", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"xff garbage: peer", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1, garbage"}}, "10.0.0.1"},
		{"xff v6 by /64", "X-Forwarded-For", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::"},
		{"x-real-ip", "X-Real-IP", "10.0.0.1:5000", http.Header{"X-Real-Ip": {"198.51.100.7"}}, "198.51.100.7"},
		{"x-real-ip last value", "X-Real-IP", "10.0.0.1:5000", http.Header{"X-Real-Ip": {"203.0.113.9", "198.51.100.7"}}, "198.51.100.7"},
		{"x-real-ip missing: peer", "X-Real-IP", "10.0.0.1:5000", nil, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			h := clientIP(tc.trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
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
