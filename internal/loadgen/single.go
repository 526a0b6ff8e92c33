package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// single: buyers each hold exactly one general-admission ticket and always
// confirm it, again and again until the event is sold out. One booking is
// one ticket, one hold and one confirmation, so its rate compares with
// figures given per ticket. Around the buying phase it reads the
// server's batch-size histogram and, given the database, its commit count,
// to tell how many requests each transaction carried.
func (r *run) single(ctx context.Context) (Report, error) {
	e, buyers, err := r.floorSale(ctx, "Single "+r.id)
	if err != nil {
		return Report{}, err
	}
	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MaxDuration)
	defer cancel()

	batchesBefore := r.scrapeBatchSizes(ctx)
	var (
		commitsBefore int64
		commitsErr    error
	)
	if r.cfg.Commits != nil {
		commitsBefore, commitsErr = r.cfg.Commits(ctx)
	}

	var (
		sold, held, lastSale atomic.Int64
		wg                   sync.WaitGroup
	)
	rounds := make([][]time.Duration, len(buyers)) // hold start to confirm answer, per buyer
	start := time.Now()
	stop := make(chan struct{})
	go progress(r.cfg.Progress, 500*time.Millisecond, func() string {
		el := time.Since(start).Seconds()
		return fmt.Sprintf("single %5.1fs: %d holds, %d/%d bookings (%.0f/s)", el, held.Load(),
			sold.Load(), e.Capacity, float64(sold.Load())/el)
	}, stop)
	for i, b := range buyers {
		wg.Go(func() {
			soldOut := 0
			for ctx.Err() == nil && soldOut < 3 {
				began := time.Now()
				var bk bookingRef
				res, err := r.c.hold(ctx, b.AccessToken, "", map[string]any{"event_id": e.ID, "quantity": 1}, &bk)
				switch {
				case err != nil:
					return
				case res.status == http.StatusCreated:
					soldOut = 0
					held.Add(1)
					if r.c.confirm(ctx, b.AccessToken, bk.ID) {
						rounds[i] = append(rounds[i], time.Since(began))
						sold.Add(int64(len(bk.Seats)))
						lastSale.Store(int64(time.Since(start)))
					}
				case res.code == "sold_out":
					soldOut++
					time.Sleep(20 * time.Millisecond)
				default:
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)
	ended := time.Now()
	batchesAfter := r.scrapeBatchSizes(context.WithoutCancel(ctx))

	var booked []time.Duration
	for _, d := range rounds {
		booked = append(booked, d...)
	}
	sellOut := time.Duration(lastSale.Load())
	perSecond := func(n int64) float64 {
		if sellOut <= 0 {
			return 0
		}
		return float64(n) / sellOut.Seconds()
	}
	rep := Report{
		Started: start, DurationSec: elapsed.Seconds(), Buyers: len(buyers), Seats: e.Capacity,
		Figures: map[string]any{
			"bookings":              int64(len(booked)),
			"bookings_per_second":   perSecond(int64(len(booked))),
			"holds":                 held.Load(),
			"holds_per_second":      perSecond(held.Load()),
			"tickets_sold":          sold.Load(),
			"time_to_sell_out_s":    sellOut.Seconds(),
			"sold_out":              sold.Load() == int64(e.Capacity),
			"booking_latency":       summarise(booked),
			"hold_latency_201":      r.rec.latency("POST /bookings", "201"),
			"hold_latency_sold_out": r.rec.latency("POST /bookings", "409 sold_out"),
			"confirm_latency_200":   r.rec.latency("POST /bookings/{id}/confirm", "200"),
		},
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("stopped by the %v limit before selling out", r.cfg.MaxDuration))
	}
	addBatchSizes(&rep, batchesBefore, batchesAfter)
	if err := r.check(context.WithoutCancel(ctx), &rep, e.ID); err != nil {
		return rep, err
	}
	if r.cfg.Commits != nil {
		r.addCommits(outer, &rep, sold.Load(), commitsBefore, commitsErr, ended)
	}
	return rep, nil
}

// addCommits reads the commit count again once the database has published
// the buying phase's commits (CommitsLag after ended) and adds db_commits
// and tickets_per_commit to rep, or a note saying why they are missing.
func (r *run) addCommits(ctx context.Context, rep *Report, tickets, before int64, beforeErr error, ended time.Time) {
	if beforeErr != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("tickets per commit not measured: %v", beforeErr))
		return
	}
	if wait := time.Until(ended.Add(r.cfg.CommitsLag)); wait > 0 {
		fmt.Fprintf(r.cfg.Progress, "single: waiting %.0fs for the database to publish its commit counts\n", wait.Seconds())
		select {
		case <-ctx.Done():
			rep.Notes = append(rep.Notes, "tickets per commit not measured: interrupted")
			return
		case <-time.After(wait):
		}
	}
	after, err := r.cfg.Commits(ctx)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("tickets per commit not measured: %v", err))
		return
	}
	commits := after - before
	rep.Figures["db_commits"] = commits
	if commits <= 0 || tickets == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("tickets per commit not measured: %d tickets, %d commits", tickets, commits))
		return
	}
	rep.Figures["tickets_per_commit"] = ratio(float64(tickets) / float64(commits))
	rep.Notes = append(rep.Notes, fmt.Sprintf("db_commits counts every transaction committed in the database from the start of the "+
		"buying phase to %v after it; the worker, the scheduler and any other session commit too, so it is an upper bound "+
		"on the commits the bookings made, and tickets_per_commit a lower bound on the tickets each of them carried",
		r.cfg.CommitsLag))
}

// ratio is a figure printed with two decimals.
type ratio float64
