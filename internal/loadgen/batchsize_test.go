package loadgen

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseHistogramsReadsTheBatchSizesOfAMetricsPage(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/batch_size.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hs, found, err := parseHistograms(f, batchSizeMetric, "kind")
	if err != nil || !found {
		t.Fatalf("parseHistograms() = found %v, error %v; want found", found, err)
	}
	if len(hs) != 2 {
		t.Fatalf("parseHistograms() kinds = %v, want hold and lifecycle", hs)
	}
	tests := []struct {
		kind string
		want BatchSizes
	}{
		// p50: rank 50 in (2, 4] holding 30..60 → 2 + 2×20/30; p99: rank 99 in (4, 8] → 4 + 4×39/40.
		{"hold", BatchSizes{Batches: 100, Requests: 380, Mean: 3.8, P50: 2 + 2*20.0/30, P99: 7.9}},
		// two replicas added up: buckets 10 10 12 14 20; p99 falls in +Inf → the highest finite bound.
		{"lifecycle", BatchSizes{Batches: 20, Requests: 196, Mean: 9.8, P50: 1, P99: 8}},
	}
	for _, tt := range tests {
		h := hs[tt.kind]
		if h == nil {
			t.Errorf("parseHistograms() has no kind %q", tt.kind)
			continue
		}
		if got := h.summary(); !closeBatchSizes(got, tt.want) {
			t.Errorf("%s summary() = %+v, want %+v", tt.kind, got, tt.want)
		}
	}
	if got := hs["lifecycle"].buckets; got[4] != 12 || got[math.Inf(1)] != 20 {
		t.Errorf("lifecycle buckets = %v, want le=4 12 and le=+Inf 20 (both replicas)", got)
	}
}

func TestParseHistogramsWithoutTheMetric(t *testing.T) {
	t.Parallel()
	page := "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n" +
		"evently_booking_batch_sizes_total 3\n# EOF\n"
	hs, found, err := parseHistograms(strings.NewReader(page), batchSizeMetric, "kind")
	if err != nil || found || len(hs) != 0 {
		t.Errorf("parseHistograms() = %v, found %v, error %v; want nothing found, no error", hs, found, err)
	}
}

func TestParseHistogramsRefusesBrokenLines(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		`evently_booking_batch_size_bucket{kind="hold",le="1" 3`,
		`evently_booking_batch_size_bucket{kind="hold",le=1} 3`,
		`evently_booking_batch_size_bucket{kind="ho\ld",le="1"} 3`,
		`evently_booking_batch_size_bucket{kind="hold",le="one"} 3`,
		`evently_booking_batch_size_bucket{kind="hold" le="1"} 3`,
		`evently_booking_batch_size_count{kind="hold"} three`,
		`evently_booking_batch_size_count{kind="hold"} 3 4 5`,
		`evently_booking_batch_size_count`,
	} {
		if _, _, err := parseHistograms(strings.NewReader(line+"\n"), batchSizeMetric, "kind"); err == nil {
			t.Errorf("parseHistograms(%q) error = nil, want one", line)
		}
	}
}

func TestParseLabelsUnescapes(t *testing.T) {
	t.Parallel()
	labels, rest, err := parseLabels(`{a="x\"y",b="back\\slash",c="new\nline","d.e"="utf8"} 7`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": `x"y`, "b": `back\slash`, "c": "new\nline", "d.e": "utf8"}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("parseLabels()[%s] = %q, want %q", k, labels[k], v)
		}
	}
	if rest != " 7" {
		t.Errorf("parseLabels() rest = %q, want %q", rest, " 7")
	}
}

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name    string
		buckets map[float64]float64
		q       float64
		want    float64
		ok      bool
	}{
		{"within the first bucket, from 0", map[float64]float64{1: 10, 2: 10, inf: 10}, .5, .5, true},
		{"interpolated", map[float64]float64{1: 0, 2: 10, 4: 20, inf: 20}, .75, 3, true},
		{"rank on a bucket boundary", map[float64]float64{1: 5, 2: 10, inf: 10}, .5, 1, true},
		{"in +Inf: the highest finite bound", map[float64]float64{1: 1, 8: 2, inf: 10}, .99, 8, true},
		{"non-positive first bound", map[float64]float64{-1: 5, 1: 10, inf: 10}, .2, -1, true},
		{"non-monotonic buckets are evened out", map[float64]float64{1: 4, 2: 3, 4: 8, inf: 8}, .5, 1, true},
		{"no +Inf bucket", map[float64]float64{1: 10, 2: 10}, .5, 0, false},
		{"no observations", map[float64]float64{1: 0, inf: 0}, .5, 0, false},
	}
	for _, tt := range tests {
		h := &histogram{buckets: tt.buckets}
		got, ok := h.quantile(tt.q)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: quantile(%v) = %v, %v; want %v, %v", tt.name, tt.q, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHistogramSince(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	before := &histogram{buckets: map[float64]float64{1: 5, 2: 8, inf: 9}, sum: 14, count: 9}
	after := &histogram{buckets: map[float64]float64{1: 5, 2: 18, 4: 3, inf: 21}, sum: 40, count: 21}
	d, ok := after.since(before)
	if !ok {
		t.Fatal("since() ok = false, want true")
	}
	want := map[float64]float64{1: 0, 2: 10, 4: 3, inf: 12}
	for le, n := range want {
		if d.buckets[le] != n {
			t.Errorf("since() bucket le=%v = %v, want %v", le, d.buckets[le], n)
		}
	}
	if d.sum != 26 || d.count != 12 {
		t.Errorf("since() sum, count = %v, %v; want 26, 12", d.sum, d.count)
	}
	if d, ok := after.since(nil); !ok || d.count != 21 {
		t.Errorf("since(nil) = count %v, %v; want 21, true", d.count, ok)
	}
	restarted := &histogram{buckets: map[float64]float64{1: 1, 2: 2, inf: 2}, sum: 3, count: 2}
	if d, ok := restarted.since(before); ok || d != restarted {
		t.Errorf("since() after a restart = %+v, %v; want the histogram itself, false", d, ok)
	}
}

func TestAddBatchSizesNotesWhatIsMissing(t *testing.T) {
	t.Parallel()
	rep := Report{Figures: map[string]any{}}
	addBatchSizes(&rep, batchScrape{}, batchScrape{})
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no "+batchSizeMetric) || len(rep.Figures) != 0 {
		t.Errorf("addBatchSizes() without the metric: notes %q, figures %v", rep.Notes, rep.Figures)
	}
	inf := math.Inf(1)
	rep = Report{Figures: map[string]any{}}
	addBatchSizes(&rep, batchScrape{}, batchScrape{found: true, hs: map[string]*histogram{
		"hold": {buckets: map[float64]float64{1: 4, inf: 4}, sum: 4, count: 4},
	}})
	if got, ok := rep.Figures["batch_size_hold"].(BatchSizes); !ok || got.Batches != 4 || got.Mean != 1 || len(rep.Notes) != 0 {
		t.Errorf("addBatchSizes() = %v, notes %q; want batch_size_hold with 4 batches of 1", rep.Figures, rep.Notes)
	}
}

func closeBatchSizes(a, b BatchSizes) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.Batches == b.Batches && a.Requests == b.Requests && near(a.Mean, b.Mean) && near(a.P50, b.P50) && near(a.P99, b.P99)
}
