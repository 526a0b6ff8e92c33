package loadgen

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// recorder collects every request's endpoint, status, code and latency.
type recorder struct {
	mu        sync.Mutex
	endpoints map[string]*endpointStats
}

type endpointStats struct {
	latencies []time.Duration
	statuses  map[string]int // "201", "409 sold_out", ...
	byStatus  map[string][]time.Duration
}

func newRecorder() *recorder { return &recorder{endpoints: map[string]*endpointStats{}} }

func (r *recorder) observe(endpoint string, status int, code string, took time.Duration) {
	key := fmt.Sprint(status)
	if code != "" {
		key += " " + code
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.endpoints[endpoint]
	if !ok {
		e = &endpointStats{statuses: map[string]int{}, byStatus: map[string][]time.Duration{}}
		r.endpoints[endpoint] = e
	}
	e.latencies = append(e.latencies, took)
	e.statuses[key]++
	e.byStatus[key] = append(e.byStatus[key], took)
}

// latency summarises the requests to endpoint answered with key.
func (r *recorder) latency(endpoint, key string) Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.endpoints[endpoint]; ok {
		return summarise(e.byStatus[key])
	}
	return Latency{}
}

// count returns how many requests to endpoint were answered with key.
func (r *recorder) count(endpoint, key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.endpoints[endpoint]; ok {
		return e.statuses[key]
	}
	return 0
}

// total returns how many requests endpoint got.
func (r *recorder) total(endpoint string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.endpoints[endpoint]; ok {
		return len(e.latencies)
	}
	return 0
}

// Latency summarises one endpoint's (or one outcome's) response times in
// milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarise(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) float64 {
		return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
	}
	return Latency{Count: len(s), P50: at(.50), P95: at(.95), P99: at(.99), Max: at(1)}
}

// EndpointReport is what one endpoint answered.
type EndpointReport struct {
	Endpoint string         `json:"endpoint"`
	Latency  Latency        `json:"latency"`
	Statuses map[string]int `json:"statuses"`
}

// Report is the outcome of one scenario.
type Report struct {
	Scenario    string           `json:"scenario"`
	Started     time.Time        `json:"started"`
	DurationSec float64          `json:"duration_seconds"`
	Buyers      int              `json:"buyers"`
	Seats       int              `json:"seats"`
	Figures     map[string]any   `json:"figures"`
	Endpoints   []EndpointReport `json:"endpoints"`
	ServerError int              `json:"server_errors"`
	Invariants  []string         `json:"invariant_violations"`
	Checked     bool             `json:"invariants_checked"`
	Notes       []string         `json:"notes,omitempty"`
}

func (r *recorder) endpointReports(only func(endpoint string) bool) (out []EndpointReport, serverErrors int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.endpoints))
	for name := range r.endpoints {
		if only == nil || only(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		e := r.endpoints[name]
		out = append(out, EndpointReport{Endpoint: name, Latency: summarise(e.latencies), Statuses: e.statuses})
		for k, n := range e.statuses {
			if k >= "500" || strings.HasPrefix(k, "0 ") {
				serverErrors += n
			}
		}
	}
	return out, serverErrors
}

// WriteText prints the report for people.
func (rep Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\n== scenario %s: %d buyers, %d seats, %.1fs\n", rep.Scenario, rep.Buyers, rep.Seats, rep.DurationSec)
	keys := make([]string, 0, len(rep.Figures))
	for k := range rep.Figures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "   %-32s %v\n", k, formatFigure(rep.Figures[k]))
	}
	fmt.Fprintf(w, "   %-28s %8s %8s %8s %8s %8s  %s\n", "endpoint", "count", "p50 ms", "p95 ms", "p99 ms", "max ms", "answers")
	for _, e := range rep.Endpoints {
		var answers []string
		for k, n := range e.Statuses {
			answers = append(answers, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(answers)
		fmt.Fprintf(w, "   %-28s %8d %8.1f %8.1f %8.1f %8.1f  %s\n", e.Endpoint, e.Latency.Count,
			e.Latency.P50, e.Latency.P95, e.Latency.P99, e.Latency.Max, strings.Join(answers, " "))
	}
	fmt.Fprintf(w, "   5xx and transport errors: %d\n", rep.ServerError)
	switch {
	case !rep.Checked:
		fmt.Fprintln(w, "   invariants: not checked (no --database-url)")
	case len(rep.Invariants) == 0:
		fmt.Fprintln(w, "   invariants: all hold (read from Postgres)")
	default:
		for _, v := range rep.Invariants {
			fmt.Fprintf(w, "   INVARIANT BROKEN: %s\n", v)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
}

func formatFigure(v any) string {
	switch x := v.(type) {
	case float64:
		return fmt.Sprintf("%.1f", x)
	case ratio:
		return fmt.Sprintf("%.2f", float64(x))
	case Latency:
		return fmt.Sprintf("n=%d p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", x.Count, x.P50, x.P95, x.P99, x.Max)
	case BatchSizes:
		return fmt.Sprintf("%d batches of %d requests: mean %.2f, p50 %.2f, p99 %.2f", x.Batches, x.Requests, x.Mean, x.P50, x.P99)
	default:
		return fmt.Sprint(v)
	}
}

// progress prints a live status line until stop is closed.
func progress(w io.Writer, every time.Duration, line func() string, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprintf(w, "\r%s\n", line())
			return
		case <-t.C:
			fmt.Fprintf(w, "\r%s", line())
		}
	}
}
