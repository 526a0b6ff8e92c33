// Package loadgen drives a running Evently through its public HTTP API the
// way buyers do — register, browse, hold, confirm, queue — and measures what
// it answers: throughput, latency per endpoint, statuses and error codes.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// client is a keep-alive HTTP client for one Evently or several replicas
// of it, recording every request it makes. With several base URLs, each
// buyer sticks to one replica (chosen by its token, as a sticky load
// balancer would), and requests without a token go round the replicas.
type client struct {
	bases []string
	next  atomic.Uint64
	http  *http.Client
	rec   *recorder
}

func newClient(bases []string, conns int, rec *recorder) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{bases: bases, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, rec: rec}
}

// base is the replica that serves token's requests.
func (c *client) base(token string) string {
	if len(c.bases) == 1 {
		return c.bases[0]
	}
	if token == "" {
		return c.bases[c.next.Add(1)%uint64(len(c.bases))]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(token))
	return c.bases[h.Sum32()%uint32(len(c.bases))]
}

// result is one answer.
type result struct {
	status int
	code   string // the problem's code, for errors
	body   []byte
}

// call sends a request and records it under endpoint (a route pattern such
// as "POST /bookings"). in is marshalled as JSON when not nil; out, when not
// nil, receives a 2xx body.
func (c *client) call(ctx context.Context, endpoint, method, path, token string, in, out any) (result, error) {
	return c.callWith(ctx, endpoint, method, path, token, nil, in, out)
}

// callWith is call with extra request headers.
func (c *client) callWith(ctx context.Context, endpoint, method, path, token string, header http.Header, in, out any) (result, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return result{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base(token)+path, body)
	if err != nil {
		return result{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.rec.observe(endpoint, 0, "transport_error", time.Since(start))
		}
		return result{}, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		c.rec.observe(endpoint, 0, "transport_error", took)
		return result{}, err
	}
	r := result{status: resp.StatusCode, body: raw}
	if resp.StatusCode >= 400 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &p)
		r.code = p.Code
	} else if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return r, fmt.Errorf("%s: decode: %w", endpoint, err)
		}
	}
	c.rec.observe(endpoint, r.status, r.code, took)
	return r, nil
}

// expect is call for setup steps, which must answer want.
func (c *client) expect(ctx context.Context, want int, endpoint, method, path, token string, in, out any) error {
	r, err := c.call(ctx, endpoint, method, path, token, in, out)
	if err != nil {
		return err
	}
	if r.status != want {
		return fmt.Errorf("%s %s: got %d %s, want %d", method, path, r.status, bytes.TrimSpace(r.body), want)
	}
	return nil
}
