package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// batchSizeMetric is the server's histogram of how many requests it
// committed in one database transaction, labelled by kind ("hold",
// "lifecycle", ...).
const batchSizeMetric = "evently_booking_batch_size"

// BatchSizes summarises the batches of one kind committed during a buying
// phase: how many transactions, how many requests they carried, and the
// requests per transaction (p50 and p99 estimated from the histogram's
// buckets, as Prometheus' histogram_quantile does).
type BatchSizes struct {
	Batches  int64   `json:"batches"`
	Requests int64   `json:"requests"`
	Mean     float64 `json:"mean"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
}

// histogram is one Prometheus histogram: cumulative bucket counts by upper
// bound, the sum and the count of its observations.
type histogram struct {
	buckets    map[float64]float64
	sum, count float64
}

func newHistogram() *histogram { return &histogram{buckets: map[float64]float64{}} }

// since returns the observations h gained after before. ok is false when a
// counter went backwards (the server restarted in between): h itself is
// then the best estimate, and is what since returns.
func (h *histogram) since(before *histogram) (d *histogram, ok bool) {
	if before == nil {
		before = newHistogram()
	}
	d = newHistogram()
	d.sum, d.count = h.sum-before.sum, h.count-before.count
	backwards := d.count < 0
	for le, n := range h.buckets {
		d.buckets[le] = n - before.buckets[le]
		backwards = backwards || d.buckets[le] < 0
	}
	if backwards {
		return h, false
	}
	return d, true
}

// quantile estimates the q-quantile (0 < q ≤ 1) of the observations the way
// Prometheus' histogram_quantile does: linearly within the bucket holding
// the rank, the lowest bucket starting at 0 (unless its bound is not
// positive), and a rank in the +Inf bucket answered with the highest finite
// bound. ok is false without a +Inf bucket or without observations.
func (h *histogram) quantile(q float64) (v float64, ok bool) {
	bounds := slices.Sorted(maps.Keys(h.buckets))
	if len(bounds) < 2 || !math.IsInf(bounds[len(bounds)-1], +1) {
		return 0, false
	}
	counts := make([]float64, len(bounds))
	for i, le := range bounds {
		counts[i] = h.buckets[le]
		if i > 0 && counts[i] < counts[i-1] { // as Prometheus: scraped buckets may be a little inconsistent
			counts[i] = counts[i-1]
		}
	}
	total := counts[len(counts)-1]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	b := sort.Search(len(counts)-1, func(i int) bool { return counts[i] >= rank })
	switch {
	case b == len(counts)-1:
		return bounds[len(bounds)-2], true
	case b == 0 && bounds[0] <= 0:
		return bounds[0], true
	}
	start, end, n := 0.0, bounds[b], counts[b]
	if b > 0 {
		start, n, rank = bounds[b-1], n-counts[b-1], rank-counts[b-1]
	}
	return start + (end-start)*(rank/n), true
}

func (h *histogram) summary() BatchSizes {
	s := BatchSizes{Batches: int64(math.Round(h.count)), Requests: int64(math.Round(h.sum))}
	if h.count > 0 {
		s.Mean = h.sum / h.count
	}
	s.P50, _ = h.quantile(.50)
	s.P99, _ = h.quantile(.99)
	return s
}

// parseHistograms reads the Prometheus text exposition format and returns
// the histogram called name, one per value of label (series that differ in
// other labels are added up, as `sum by (label, le)` would; a series
// without the label counts under ""). found is false when no sample of the
// histogram appears. Lines of other metrics are skipped unparsed.
func parseHistograms(in io.Reader, name, label string) (hs map[string]*histogram, found bool, err error) {
	hs = map[string]*histogram{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ \t")
		if end < 0 {
			return nil, false, fmt.Errorf("line %d: no value", n)
		}
		metric, rest := line[:end], line[end:]
		part, ok := strings.CutPrefix(metric, name+"_")
		if !ok || (part != "bucket" && part != "sum" && part != "count") {
			continue
		}
		labels := map[string]string{}
		if rest = strings.TrimLeft(rest, " \t"); strings.HasPrefix(rest, "{") {
			if labels, rest, err = parseLabels(rest); err != nil {
				return nil, false, fmt.Errorf("line %d: %w", n, err)
			}
		}
		fields := strings.Fields(rest) // value [timestamp]
		if len(fields) < 1 || len(fields) > 2 {
			return nil, false, fmt.Errorf("line %d: want a value and at most a timestamp, got %q", n, rest)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, false, fmt.Errorf("line %d: value: %w", n, err)
		}
		found = true
		h, ok := hs[labels[label]]
		if !ok {
			h = newHistogram()
			hs[labels[label]] = h
		}
		switch part {
		case "bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				return nil, false, fmt.Errorf("line %d: bucket bound le=%q: %w", n, labels["le"], err)
			}
			h.buckets[le] += v
		case "sum":
			h.sum += v
		case "count":
			h.count += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	return hs, found, nil
}

// parseLabels reads `{name="value",...}` from the start of s and returns the
// labels and what follows the closing brace. Values may escape \\, \" and
// \n; names may be quoted (the UTF-8 form of the format).
func parseLabels(s string) (labels map[string]string, rest string, err error) {
	labels = map[string]string{}
	i := 1 // past '{'
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return nil, "", errors.New("labels: no closing brace")
		}
		if s[i] == '}' {
			return labels, s[i+1:], nil
		}
		var name string
		if s[i] == '"' {
			if name, i, err = parseQuoted(s, i); err != nil {
				return nil, "", err
			}
		} else {
			start := i
			for i < len(s) && isLabelNameByte(s[i], i == start) {
				i++
			}
			if name = s[start:i]; name == "" {
				return nil, "", fmt.Errorf("labels: bad label name at %q", s[start:])
			}
		}
		skip()
		if i >= len(s) || s[i] != '=' {
			return nil, "", fmt.Errorf("labels: no '=' after %q", name)
		}
		i++
		skip()
		if i >= len(s) || s[i] != '"' {
			return nil, "", fmt.Errorf("labels: value of %q is not quoted", name)
		}
		var value string
		if value, i, err = parseQuoted(s, i); err != nil {
			return nil, "", err
		}
		labels[name] = value
		skip()
		if i < len(s) && s[i] == ',' {
			i++
		} else if i >= len(s) || s[i] != '}' {
			return nil, "", fmt.Errorf("labels: want ',' or '}' after %s=%q", name, value)
		}
	}
}

// parseQuoted reads the double-quoted string starting at s[i] and returns
// it unescaped with the index just past its closing quote.
func parseQuoted(s string, i int) (string, int, error) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i++; i >= len(s) {
				return "", 0, errors.New("labels: unterminated escape")
			}
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", 0, fmt.Errorf(`labels: unknown escape \%c`, s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("labels: unterminated string")
}

func isLabelNameByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// histograms scrapes every replica's /metrics (served at its root) and
// returns the histogram name by the values of label, summed over the
// replicas; found is false when no replica exports it. The requests are
// not recorded: they are not part of the load.
func (c *client) histograms(ctx context.Context, name, label string) (map[string]*histogram, bool, error) {
	sum := map[string]*histogram{}
	anyFound := false
	for _, base := range c.bases {
		hs, found, err := c.scrape(ctx, base, name, label)
		if err != nil {
			return nil, false, err
		}
		anyFound = anyFound || found
		for k, h := range hs {
			if sum[k] == nil {
				sum[k] = newHistogram()
			}
			sum[k].add(h)
		}
	}
	return sum, anyFound, nil
}

// add adds o's observations to h.
func (h *histogram) add(o *histogram) {
	for le, n := range o.buckets {
		h.buckets[le] += n
	}
	h.sum += o.sum
	h.count += o.count
}

// scrape reads the histogram name by label from the /metrics of base.
func (c *client) scrape(ctx context.Context, base, name, label string) (hs map[string]*histogram, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("scrape %s/metrics: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, false, fmt.Errorf("scrape %s/metrics: status %d", base, resp.StatusCode)
	}
	hs, found, err = parseHistograms(resp.Body, name, label)
	if err != nil {
		return nil, false, fmt.Errorf("scrape %s/metrics: %s: %w", base, name, err)
	}
	return hs, found, nil
}

// batchScrape is one reading of the batch-size histogram.
type batchScrape struct {
	hs    map[string]*histogram
	found bool
	err   error
}

func (r *run) scrapeBatchSizes(ctx context.Context) batchScrape {
	hs, found, err := r.c.histograms(ctx, batchSizeMetric, "kind")
	return batchScrape{hs: hs, found: found, err: err}
}

// addBatchSizes adds a batch_size_<kind> figure for each kind the server
// reported after the buying phase, from the difference with the reading
// before it, or notes why there are none.
func addBatchSizes(rep *Report, before, after batchScrape) {
	switch {
	case before.err != nil || after.err != nil:
		rep.Notes = append(rep.Notes, fmt.Sprintf("batch sizes not measured: %v", errors.Join(before.err, after.err)))
		return
	case !after.found:
		rep.Notes = append(rep.Notes, fmt.Sprintf("the server's /metrics has no %s histogram (an older evently?): batch sizes not measured", batchSizeMetric))
		return
	}
	for _, kind := range slices.Sorted(maps.Keys(after.hs)) {
		d, ok := after.hs[kind].since(before.hs[kind])
		if !ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s{kind=%q} went backwards during the run (server restarted?): its figures count from the restart", batchSizeMetric, kind))
		}
		key := "batch_size_" + kind
		if kind == "" {
			key = "batch_size"
		}
		rep.Figures[key] = d.summary()
	}
}
