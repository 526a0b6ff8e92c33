package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/evently/evently/internal/apptest"
)

// TestMetricsLabelsAreBounded: invented methods and paths must not become
// label values, or every request would add a time series for the life of
// the process (/metrics once grew to 30 MB after 9,000 such requests).
func TestMetricsLabelsAreBounded(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	junk := func(from, to int) {
		for i := from; i < to; i++ {
			req, err := http.NewRequest(fmt.Sprintf("M%dX", i), fmt.Sprintf("%s/api/v1/nowhere-%d?x=%d", env.URL, i, i), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{req.URL.String(), fmt.Sprintf("%s/nowhere-%d", env.URL, i), env.URL + "/api/v1/events"} {
				r := req.Clone(req.Context())
				r.URL = must(r.URL.Parse(target))
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("%s %s = %d, want a 4xx", r.Method, target, resp.StatusCode)
				}
			}
		}
	}
	junk(0, 100)
	first := env.Metrics(t)
	junk(100, 300)
	second := env.Metrics(t)

	series := regexp.MustCompile(`(?m)^evently_http_request_duration_seconds_count\{(.*)\} `)
	labels := func(text string) []string {
		var out []string
		for _, m := range series.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	if a, b := labels(first), labels(second); !slices.Equal(a, b) {
		t.Errorf("200 more invented requests added series:\n before %q\n after  %q", a, b)
	}
	for _, l := range labels(second) {
		if strings.Contains(l, "M1") || strings.Contains(l, "nowhere") {
			t.Errorf("a label holds what the client invented: %s", l)
		}
	}
	if !strings.Contains(second, `method="OTHER"`) {
		t.Errorf("no series with method OTHER:\n%s", second)
	}
}

// TestMetricsListener: by default /metrics is served on a listener of its
// own and not on the API's; EVENTLY_METRICS_ADDR=api puts it back on the
// API's listener.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	env := apptest.Start(t)
	if env.MetricsURL == env.URL {
		t.Fatalf("metrics served on the API listener by default")
	}
	wantProblem(t, "GET /metrics on the API listener", env.Get(t, "/metrics", ""), http.StatusNotFound, "not_found")
	if text := env.Metrics(t); !strings.Contains(text, "evently_http_request_duration_seconds") {
		t.Errorf("metrics listener serves no HTTP metrics:\n%.500s", text)
	}
	resp, err := http.Get(env.MetricsURL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/events on the metrics listener = %d, want 404", resp.StatusCode)
	}

	onAPI := apptest.Start(t, apptest.WithEnv("EVENTLY_METRICS_ADDR", "api"))
	if onAPI.MetricsURL != onAPI.URL {
		t.Fatalf("MetricsURL = %s, want the API's %s", onAPI.MetricsURL, onAPI.URL)
	}
	if r := onAPI.Get(t, "/metrics", ""); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "go_goroutines") {
		t.Errorf("GET /metrics on the API with EVENTLY_METRICS_ADDR=api = %d", r.Status)
	}
}
