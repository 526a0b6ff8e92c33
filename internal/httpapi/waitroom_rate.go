package httpapi

import (
	"net/http"
	"time"

	"github.com/evently/evently/internal/event"
	"github.com/evently/evently/internal/waitroom"
)

// autoRateResponse is how a room's rate is set, in its stats: the
// settings as the event has them, and when the room last changed its own
// rate.
type autoRateResponse struct {
	AdmitMode         event.AdmitMode `json:"admit_mode"`
	BasePerMinute     int             `json:"base_admit_per_minute"`
	AdmitMinPerMinute *int            `json:"admit_min_per_minute"`
	AdmitMaxPerMinute *int            `json:"admit_max_per_minute"`
	TargetP95Ms       int64           `json:"target_p95_ms"`
	RateChangedAt     *time.Time      `json:"rate_changed_at"`
}

func toAutoRateResponse(st waitroom.Stats) autoRateResponse {
	resp := autoRateResponse{AdmitMode: event.AdmitFixed, BasePerMinute: st.BasePerMinute,
		TargetP95Ms: st.TargetP95.Milliseconds(), RateChangedAt: utc(st.RateChangedAt)}
	if st.Auto {
		resp.AdmitMode = event.AdmitAuto
	}
	if st.MinPerMinute > 0 {
		lo, hi := st.MinPerMinute, st.MaxPerMinute
		resp.AdmitMinPerMinute, resp.AdmitMaxPerMinute = &lo, &hi
	}
	return resp
}

type rateChangeResponse struct {
	At            time.Time `json:"at"`
	FromPerMinute int       `json:"from_per_minute"`
	ToPerMinute   int       `json:"to_per_minute"`
	Reason        string    `json:"reason"`
	BookingP95Ms  *int64    `json:"booking_p95_ms"`
	Samples       int       `json:"samples"`
	Idle          int64     `json:"idle"`
	Overdue       int64     `json:"overdue"`
}

type rateChangesResponse struct {
	Data []rateChangeResponse `json:"data"`
}

// The bounds of ?limit= on the rate changes.
const (
	defaultRateChanges = 50
	maxRateChanges     = 500
)

func (s *Server) admissionRateChanges(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidParam(r, "id", "event")
	if err != nil {
		return err
	}
	limit, err := parseLimit(r, defaultRateChanges, maxRateChanges)
	if err != nil {
		return err
	}
	changes, err := s.waitingRoom.RateChanges(r.Context(), id, limit)
	if err != nil {
		return err
	}
	resp := rateChangesResponse{Data: make([]rateChangeResponse, len(changes))}
	for i, c := range changes {
		resp.Data[i] = rateChangeResponse{At: c.At.UTC(), FromPerMinute: c.From, ToPerMinute: c.To, Reason: c.Reason,
			Samples: c.Samples, Idle: c.Idle, Overdue: c.Overdue}
		if c.BookingP95 != nil {
			ms := c.BookingP95.Milliseconds()
			resp.Data[i].BookingP95Ms = &ms
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
