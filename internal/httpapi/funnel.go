package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/funnel"
	"github.com/evently/evently/internal/waitroom"
)

// FunnelService answers an event's on-sale funnel (see funnel.Service).
type FunnelService interface {
	Report(ctx context.Context, q funnel.Query) (funnel.Report, error)
}

type funnelMinuteResponse struct {
	At        time.Time `json:"at"`
	Joined    int64     `json:"joined"`
	Admitted  int64     `json:"admitted"`
	Held      int64     `json:"held"`
	Confirmed int64     `json:"confirmed"`
	Cancelled int64     `json:"cancelled"`
	Expired   int64     `json:"expired"`
}

type funnelResponse struct {
	EventID             uuid.UUID              `json:"event_id"`
	From                time.Time              `json:"from"`
	To                  time.Time              `json:"to"`
	Joined              int64                  `json:"joined"`
	Admitted            int64                  `json:"admitted"`
	Held                int64                  `json:"held"`
	Confirmed           int64                  `json:"confirmed"`
	Cancelled           int64                  `json:"cancelled"`
	Expired             int64                  `json:"expired"`
	Abandoned           int64                  `json:"abandoned"`
	AdmitRate           float64                `json:"admit_rate"`
	HoldRate            float64                `json:"hold_rate"`
	ConfirmRate         float64                `json:"confirm_rate"`
	QueueWaitP50Seconds *float64               `json:"queue_wait_p50_seconds"`
	QueueWaitP90Seconds *float64               `json:"queue_wait_p90_seconds"`
	AdmissionToHoldP50  *float64               `json:"admission_to_hold_p50_seconds"`
	AdmissionToHoldP90  *float64               `json:"admission_to_hold_p90_seconds"`
	HoldToConfirmP50    *float64               `json:"hold_to_confirm_p50_seconds"`
	HoldToConfirmP90    *float64               `json:"hold_to_confirm_p90_seconds"`
	HoldExpiryRate      float64                `json:"hold_expiry_rate"`
	SeatsLeft           int64                  `json:"seats_left"`
	SeatsPerMinute      float64                `json:"seats_per_minute"`
	ForecastSoldOutAt   *time.Time             `json:"forecast_sold_out_at"`
	Series              []funnelMinuteResponse `json:"series"`
	// Room is the waiting room's figures now (the body of GET
	// /admin/events/{id}/waiting-room), so that one request or one stream
	// event carries all a live dashboard shows.
	Room waitingRoomStatsResponse `json:"room"`
	AsOf time.Time                `json:"as_of"`
}

func seconds(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	s := d.Seconds()
	return &s
}

func toFunnelResponse(r funnel.Report, room waitroom.Stats) funnelResponse {
	resp := funnelResponse{
		EventID: r.EventID, From: r.From, To: r.To,
		Joined: r.Joined, Admitted: r.Admitted, Held: r.Held, Confirmed: r.Confirmed,
		Cancelled: r.Cancelled, Expired: r.Expired, Abandoned: r.Abandoned,
		AdmitRate: r.AdmitRate, HoldRate: r.HoldRate, ConfirmRate: r.ConfirmRate,
		QueueWaitP50Seconds: seconds(r.QueueWaitP50), QueueWaitP90Seconds: seconds(r.QueueWaitP90),
		AdmissionToHoldP50: seconds(r.AdmissionToHoldP50), AdmissionToHoldP90: seconds(r.AdmissionToHoldP90),
		HoldToConfirmP50: seconds(r.HoldToConfirmP50), HoldToConfirmP90: seconds(r.HoldToConfirmP90),
		HoldExpiryRate: r.HoldExpiryRate, SeatsLeft: r.SeatsLeft, SeatsPerMinute: r.SeatsPerMinute,
		ForecastSoldOutAt: utc(r.SoldOutAt), Room: toWaitingRoomStats(room), AsOf: r.AsOf.UTC(),
		Series: make([]funnelMinuteResponse, len(r.Series)),
	}
	for i, m := range r.Series {
		resp.Series[i] = funnelMinuteResponse{At: m.At.UTC(), Joined: m.Joined, Admitted: m.Admitted, Held: m.Held,
			Confirmed: m.Confirmed, Cancelled: m.Cancelled, Expired: m.Expired}
	}
	return resp
}

func (s *Server) analyticsFunnel(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	var v apperr.Validator
	qv := r.URL.Query()
	q := funnel.Query{EventID: id, From: queryTime(&v, qv, "from"), To: queryTime(&v, qv, "to")}
	if err := v.Err(); err != nil {
		return err
	}
	resp, err := s.funnelReport(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// funnelReport is the body of GET /admin/analytics/events/{id}/funnel,
// which the funnel stream sends too: the funnel over q and the waiting
// room's figures now.
func (s *Server) funnelReport(ctx context.Context, q funnel.Query) (funnelResponse, error) {
	rep, err := s.funnel.Report(ctx, q)
	if err != nil {
		return funnelResponse{}, err
	}
	room, err := s.waitingRoom.Stats(ctx, q.EventID)
	if err != nil {
		return funnelResponse{}, err
	}
	return toFunnelResponse(rep, room), nil
}

// funnelStreamEvery is how often the funnel stream sends the report again.
const funnelStreamEvery = 2 * time.Second

// funnelStream sends the event's funnel at once and then every
// funnelStreamEvery, for a live dashboard: over the hour up to now (a
// sliding window) or from `from` on. A bad range or an unknown event is
// refused before the stream starts; a range that grows past MaxRange ends
// it with a problem event.
func (s *Server) funnelStream(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	var v apperr.Validator
	q := funnel.Query{EventID: id, From: queryTime(&v, r.URL.Query(), "from")}
	if err := v.Err(); err != nil {
		return err
	}
	resp, err := s.funnelReport(r.Context(), q)
	if err != nil {
		return err
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	st := s.startStream(w, streamFunnel)
	defer st.end()
	if r.Method == http.MethodHead {
		return nil
	}
	if !st.event("funnel", data) {
		return nil
	}
	tick := time.NewTicker(funnelStreamEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-st.heartbeat.C:
			if !st.comment() {
				return nil
			}
			continue
		case <-r.Context().Done():
			return nil
		}
		resp, err := s.funnelReport(r.Context(), q)
		switch {
		case apperr.Is(err, apperr.ValidationFailed), apperr.Is(err, apperr.NotFound):
			st.event("problem", problemJSON(r, err))
			return nil
		case err != nil:
			// A store did not answer this time; the next tick tries again.
			continue
		}
		if data, err = json.Marshal(resp); err != nil {
			return err
		}
		if !st.event("funnel", data) {
			return nil
		}
	}
}
