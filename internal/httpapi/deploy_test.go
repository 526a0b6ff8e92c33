package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/evently/evently/internal/apptest"
)

// The alert rules and the dashboard, relative to this package.
const (
	alertRulesFile = "../../deploy/prometheus/evently-alerts.yml"
	dashboardFile  = "../../deploy/grafana/evently-on-sale.json"
)

// alertExprs returns each alert rule's name and expression.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	out := map[string]string{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	return out
}

// dashboardExprs returns each dashboard query, by panel title, with
// Grafana's variables replaced by what they stand for, so that the result
// is plain PromQL.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct {
			Expr  string
			RefID string `json:"refId"`
		}
		Panels []json.RawMessage // a collapsed row's panels
	}
	var doc struct {
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Name  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".+")
	out := map[string]string{}
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = vars.Replace(tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(doc.Panels)
	// Template variables query label_values(metric, label).
	labelValues := regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	for _, v := range doc.Templating.List {
		if m := labelValues.FindSubmatch(v.Query); m != nil {
			out["variable "+v.Name] = string(m[1])
		}
	}
	return out
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`\$?[a-zA-Z_:][a-zA-Z0-9_:]*(?:\s*\()?`)
	promNonMetric = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "start", "end"}
)

// metricNames returns the metric names a PromQL expression reads: what is
// left once strings, label matchers, ranges and grouping clauses are
// removed, less functions, aggregations and keywords.
func metricNames(expr string) []string {
	expr = promStrings.ReplaceAllString(expr, `""`)
	expr = promMatchers.ReplaceAllString(expr, " ")
	expr = promGrouping.ReplaceAllString(expr, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(expr, -1) {
		id := expr[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("0123456789.", rune(expr[loc[0]-1])) {
			continue // the unit of a duration (offset 5m) or a number's exponent
		}
		if strings.HasPrefix(id, "$") || strings.HasSuffix(id, "(") || slices.Contains(promNonMetric, strings.ToLower(id)) {
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (job, le) (rate(evently_booking_hold_duration_seconds_bucket{outcome="held"}[5m]))) > 0.5`: {"evently_booking_hold_duration_seconds_bucket"},
		`sum by (instance) (a_total{state="x"}) / on (instance) group_left sum(b) > bool 0.9 and c offset 5m`:                       {"a_total", "b", "c"},
		`label_replace(rate(x_count{job=~"$job"}[$__rate_interval]), "status", "${1}xx", "status", "(.)..")`:                        {"x_count"},
		`max(evently_build_info) unless evently_redis_degraded == 1`:                                                                {"evently_build_info", "evently_redis_degraded"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// exportedNames lists the metric names in a /metrics text, with the
// series names a histogram or summary adds (_bucket, _sum, _count).
func exportedNames(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		out[f[2]] = true
		switch f[3] {
		case "histogram":
			out[f[2]+"_bucket"], out[f[2]+"_sum"], out[f[2]+"_count"] = true, true, true
		case "summary":
			out[f[2]+"_sum"], out[f[2]+"_count"] = true, true
		}
	}
	return out
}

// TestDeployMetricsExported: every metric the alert rules and the Grafana
// dashboard read is exported by a running evently once an on-sale's
// traffic has gone through it (holds, refusals, confirmations, a
// cancellation, a waiting room with someone in it, a webhook delivery), so
// that renaming a metric without updating deploy/ fails here. When
// promtool is installed, every dashboard query must also parse.
func TestDeployMetricsExported(t *testing.T) {
	t.Parallel()
	exprs := alertExprs(t)
	alerts := len(exprs)
	for k, v := range dashboardExprs(t) {
		exprs[k] = v
	}
	if alerts < 8 || len(exprs)-alerts < 30 {
		t.Fatalf("%d alert rules and %d dashboard queries read: is a file empty or the walk broken?", alerts, len(exprs)-alerts)
	}

	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hook.Close)
	f := newFixture(t, apptest.WithEnv("EVENTLY_WEBHOOK_URL", hook.URL), apptest.WithEnv("EVENTLY_WEBHOOK_SECRET", "whsec_deploy_test"))
	e := f.publish(t, gaEvent(3))
	buyers := f.buyers(t, 3)
	b := f.hold(t, buyers[0], map[string]any{"event_id": e.ID, "quantity": 2})
	f.confirm(t, buyers[0], b.ID)
	c := f.hold(t, buyers[1], map[string]any{"event_id": e.ID, "quantity": 1})
	wantProblem(t, "sold out", f.env.Post(t, "/api/v1/bookings", buyers[2], map[string]any{"event_id": e.ID, "quantity": 1}), 409, "sold_out")
	f.cancel(t, buyers[1], c.ID)
	room := f.publish(t, gaEvent(10), withRoom(map[string]any{"enabled": true, "admit_per_minute": 60}))
	joinRoom(t, f.env, buyers[2], room.ID)

	var exported map[string]bool
	deadline := time.Now().Add(20 * time.Second)
	for {
		exported = exportedNames(f.env.Metrics(t))
		missing := 0
		for _, expr := range exprs {
			for _, name := range metricNames(expr) {
				if !exported[name] {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the webhook deliveries and the admission run in the background
	}
	used := map[string]bool{}
	for where, expr := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s reads no metric: %s", where, expr)
		}
		for _, name := range names {
			used[name] = true
			if !exported[name] {
				t.Errorf("%s reads %s, which evently does not export", where, name)
			}
		}
	}
	t.Logf("%d queries read %d metrics, all exported", len(exprs), len(used))

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: dashboard queries not parsed")
		return
	}
	// promtool parses the dashboard's queries as recording rules.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	var keys []string
	for k := range exprs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		q, _ := json.Marshal(exprs[k])
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the queries: %v\n%s", err, out)
	}
}
