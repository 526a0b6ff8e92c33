package loadgen

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// reconcileFunnel reads the event's funnel over the run and checks it,
// exactly: joined and admitted against the tickets the run took and the
// admissions the room reports; held and confirmed against the distinct
// buyers in the bookings table (Config.BookingBuyers; without it, against
// the run's own answered holds and confirmations, as the notes say); the
// steps narrowing (joined ≥ admitted ≥ held ≥ confirmed); and the time
// from admission to hold: both percentiles there when anyone held, p50 ≤
// p90, within the run, and equal to the nearest-rank percentiles of each
// hold's created_at less its ticket's admitted_at, as the clients saw
// them. Whatever does not hold is reported as a broken invariant.
func (r *run) reconcileFunnel(ctx context.Context, rep *Report, eventID string, start time.Time, joined, admitted int64, joiners []*joiner) {
	var fn struct {
		Joined    int64    `json:"joined"`
		Admitted  int64    `json:"admitted"`
		Held      int64    `json:"held"`
		Confirmed int64    `json:"confirmed"`
		ToHoldP50 *float64 `json:"admission_to_hold_p50_seconds"`
		ToHoldP90 *float64 `json:"admission_to_hold_p90_seconds"`
	}
	q := url.Values{"from": {start.Add(-time.Minute).UTC().Format(time.RFC3339)},
		"to": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}}
	if err := r.c.expect(ctx, http.StatusOK, "GET /admin/analytics/events/{id}/funnel", http.MethodGet,
		"/api/v1/admin/analytics/events/"+eventID+"/funnel?"+q.Encode(), r.admin, nil, &fn); err != nil {
		rep.Invariants = append(rep.Invariants, fmt.Sprintf("funnel not readable: %v", err))
		return
	}
	held := int64(r.rec.count("POST /bookings", "201"))
	confirmed := int64(r.rec.count("POST /bookings/{id}/confirm", "200"))
	source := "the run's answered holds and confirmations"
	if r.cfg.BookingBuyers != nil {
		var err error
		if held, confirmed, err = r.cfg.BookingBuyers(ctx, eventID); err != nil {
			rep.Invariants = append(rep.Invariants, fmt.Sprintf("bookings table not readable: %v", err))
			return
		}
		source = "the bookings table"
	} else {
		rep.Notes = append(rep.Notes, "funnel held and confirmed checked against the run's own answers: no database to read the bookings from")
	}
	rep.Figures["funnel"] = map[string]int64{"joined": fn.Joined, "admitted": fn.Admitted, "held": fn.Held, "confirmed": fn.Confirmed}
	rep.Figures["funnel_expected"] = map[string]int64{"joined": joined, "admitted": admitted, "held": held, "confirmed": confirmed}
	var broken []string
	if fn.Joined != joined || fn.Admitted != admitted || fn.Held != held || fn.Confirmed != confirmed {
		broken = append(broken, fmt.Sprintf("funnel %d joined, %d admitted, %d held, %d confirmed; the run took %d tickets, "+
			"the room gave %d admissions, %s has %d buyers who held and %d who confirmed",
			fn.Joined, fn.Admitted, fn.Held, fn.Confirmed, joined, admitted, source, held, confirmed))
	}
	if !(fn.Joined >= fn.Admitted && fn.Admitted >= fn.Held && fn.Held >= fn.Confirmed) {
		broken = append(broken, fmt.Sprintf("funnel does not narrow: %d joined, %d admitted, %d held, %d confirmed",
			fn.Joined, fn.Admitted, fn.Held, fn.Confirmed))
	}
	broken = append(broken, r.checkAdmissionToHold(rep, fn.Held, fn.ToHoldP50, fn.ToHoldP90, time.Since(start), joiners)...)
	rep.Figures["funnel_reconciled"] = len(broken) == 0
	rep.Invariants = append(rep.Invariants, broken...)
}

// checkAdmissionToHold checks the funnel's admission-to-hold percentiles
// (seconds) against the run: there when anyone held, ordered, within the
// run, and exactly those of the holds the clients made (when every hold
// in the funnel is one the clients saw answered).
func (r *run) checkAdmissionToHold(rep *Report, held int64, p50, p90 *float64, ran time.Duration, joiners []*joiner) []string {
	var seen []time.Duration
	for _, j := range joiners {
		if !j.held.IsZero() && !j.admitted.IsZero() {
			seen = append(seen, j.held.Sub(j.admitted))
		}
	}
	slices.Sort(seen)
	rank := func(p float64) float64 { return seen[int(math.Ceil(p*float64(len(seen))))-1].Seconds() }
	if p50 != nil && p90 != nil {
		rep.Figures["funnel_admission_to_hold_s"] = fmt.Sprintf("p50 %.6f, p90 %.6f", *p50, *p90)
	}
	switch {
	case held == 0 && (p50 != nil || p90 != nil):
		return []string{"funnel has an admission-to-hold time without holds"}
	case held == 0:
		return nil
	case p50 == nil || p90 == nil:
		return []string{fmt.Sprintf("funnel has %d buyers who held but no admission-to-hold time", held)}
	case *p50 < 0 || *p50 > *p90 || *p90 > ran.Seconds():
		return []string{fmt.Sprintf("funnel admission to hold p50 %.6fs, p90 %.6fs: not 0 ≤ p50 ≤ p90 ≤ the run's %.1fs",
			*p50, *p90, ran.Seconds())}
	case int64(len(seen)) != held:
		rep.Notes = append(rep.Notes, fmt.Sprintf("admission to hold checked for bounds only: the clients saw %d holds answered, "+
			"the funnel counts %d buyers who held", len(seen), held))
		return nil
	}
	rep.Figures["client_admission_to_hold_s"] = fmt.Sprintf("p50 %.6f, p90 %.6f (%d holds)", rank(0.5), rank(0.9), len(seen))
	if *p50 != rank(0.5) || *p90 != rank(0.9) {
		return []string{fmt.Sprintf("funnel admission to hold p50 %.6fs, p90 %.6fs; the holds' created_at less their "+
			"admitted_at give %.6fs and %.6fs", *p50, *p90, rank(0.5), rank(0.9))}
	}
	return nil
}
