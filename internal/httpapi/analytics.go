package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/analytics"
	"github.com/evently/evently/internal/apperr"
)

// AnalyticsService answers the admin reports (see analytics.Service).
type AnalyticsService interface {
	Summary(ctx context.Context, w analytics.Window) (analytics.Summary, error)
	Popular(ctx context.Context, q analytics.PopularQuery) (analytics.Popular, error)
	Daily(ctx context.Context, q analytics.DailyQuery) (analytics.Daily, error)
	Event(ctx context.Context, id uuid.UUID) (analytics.EventReport, error)
}

// --- Handlers ---

func (s *Server) analyticsSummary(w http.ResponseWriter, r *http.Request) error {
	var v apperr.Validator
	win := queryWindow(&v, r.URL.Query())
	if err := v.Err(); err != nil {
		return err
	}
	sum, err := s.analytics.Summary(r.Context(), win)
	return respond(w, http.StatusOK, sum, err, toSummaryResponse)
}

func (s *Server) analyticsPopular(w http.ResponseWriter, r *http.Request) error {
	var v apperr.Validator
	qv := r.URL.Query()
	limit, err := parseLimit(r, analytics.DefaultPopularLimit, analytics.MaxPopularLimit)
	if err != nil {
		return err
	}
	q := analytics.PopularQuery{
		By:       analytics.PopularBy(qv.Get("by")),
		Limit:    limit,
		Window:   queryWindow(&v, qv),
		Currency: qv.Get("currency"),
	}
	if err := v.Err(); err != nil {
		return err
	}
	p, err := s.analytics.Popular(r.Context(), q)
	return respond(w, http.StatusOK, p, err, toPopularResponse)
}

// queryWindow reads the ?from= and ?to= of a report.
func queryWindow(v *apperr.Validator, qv url.Values) analytics.Window {
	return analytics.Window{From: queryTime(v, qv, "from"), To: queryTime(v, qv, "to")}
}

func (s *Server) analyticsDaily(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	q, err := analytics.ParseDailyQuery(qv.Get("from"), qv.Get("to"), qv.Get("tz"))
	if err != nil {
		return err
	}
	d, err := s.analytics.Daily(r.Context(), q)
	return respond(w, http.StatusOK, d, err, toDailyResponse)
}

func (s *Server) analyticsEvent(w http.ResponseWriter, r *http.Request) error {
	return respondByID(w, r, "event", http.StatusOK, s.analytics.Event, toEventAnalyticsResponse)
}

// --- DTOs ---

type moneyResponse struct {
	Currency   string `json:"currency"`
	TotalCents int64  `json:"total_cents"`
}

func toMoneyResponses(m []analytics.Money) []moneyResponse {
	out := make([]moneyResponse, len(m))
	for i, x := range m {
		out[i] = moneyResponse{Currency: x.Currency, TotalCents: x.Cents}
	}
	return out
}

func toPopularResponse(p analytics.Popular) popularResponse {
	resp := popularResponse{Data: make([]popularEventResponse, len(p.Events)), AsOf: p.AsOf}
	for i, e := range p.Events {
		resp.Data[i] = popularEventResponse{
			EventID:      e.EventID,
			Name:         e.Name,
			TicketsSold:  e.TicketsSold,
			Capacity:     e.Capacity,
			Utilization:  e.Utilization(),
			RevenueCents: e.RevenueCents,
			Currency:     e.Currency,
		}
	}
	return resp
}

func toDailyResponse(d analytics.Daily) dailyResponse {
	resp := dailyResponse{TZ: d.Location.String(), Data: make([]dayResponse, len(d.Days)), AsOf: d.AsOf}
	for i, day := range d.Days {
		resp.Data[i] = dayResponse{
			Date:              day.Date.Format(time.DateOnly),
			BookingsConfirmed: day.BookingsConfirmed,
			TicketsSold:       day.TicketsSold,
			BookingsCancelled: day.BookingsCancelled,
			Revenue:           toMoneyResponses(day.Revenue),
		}
	}
	return resp
}

func toEventAnalyticsResponse(e analytics.EventReport) eventAnalyticsResponse {
	resp := eventAnalyticsResponse{
		EventID:           e.EventID,
		Name:              e.Name,
		Currency:          e.Currency,
		Capacity:          e.Capacity,
		Available:         e.Available,
		Held:              e.Held,
		Booked:            e.Booked,
		Utilization:       e.Utilization(),
		TicketsSold:       e.TicketsSold,
		RevenueCents:      e.RevenueCents,
		BookingsConfirmed: e.BookingsConfirmed,
		BookingsCancelled: e.BookingsCancelled,
		CancellationRate:  e.CancellationRate,
		WaitlistWaiting:   e.WaitlistWaiting,
		SalesByDay:        make([]daySalesResponse, len(e.SalesByDay)),
		AsOf:              e.AsOf,
	}
	for i, d := range e.SalesByDay {
		resp.SalesByDay[i] = daySalesResponse{
			Date:              d.Date.Format(time.DateOnly),
			BookingsConfirmed: d.BookingsConfirmed,
			TicketsSold:       d.TicketsSold,
			RevenueCents:      d.RevenueCents,
		}
	}
	return resp
}

type summaryResponse struct {
	EventsPublished     int64           `json:"events_published"`
	CapacityTotal       int64           `json:"capacity_total"`
	TicketsSold         int64           `json:"tickets_sold"`
	BookingsConfirmed   int64           `json:"bookings_confirmed"`
	BookingsCancelled   int64           `json:"bookings_cancelled"`
	CancellationRate    float64         `json:"cancellation_rate"`
	CapacityUtilization float64         `json:"capacity_utilization"`
	Revenue             []moneyResponse `json:"revenue"`
	AsOf                time.Time       `json:"as_of"`
}

func toSummaryResponse(s analytics.Summary) summaryResponse {
	return summaryResponse{
		EventsPublished:     s.EventsPublished,
		CapacityTotal:       s.CapacityTotal,
		TicketsSold:         s.TicketsSold,
		BookingsConfirmed:   s.BookingsConfirmed,
		BookingsCancelled:   s.BookingsCancelled,
		CancellationRate:    s.CancellationRate,
		CapacityUtilization: s.CapacityUtilization,
		Revenue:             toMoneyResponses(s.Revenue),
		AsOf:                s.AsOf,
	}
}

type popularResponse struct {
	Data []popularEventResponse `json:"data"`
	AsOf time.Time              `json:"as_of"`
}

type popularEventResponse struct {
	EventID      uuid.UUID `json:"event_id"`
	Name         string    `json:"name"`
	TicketsSold  int64     `json:"tickets_sold"`
	Capacity     int64     `json:"capacity"`
	Utilization  float64   `json:"utilization"`
	RevenueCents int64     `json:"revenue_cents"`
	Currency     string    `json:"currency"`
}

type dailyResponse struct {
	TZ   string        `json:"tz"`
	Data []dayResponse `json:"data"`
	AsOf time.Time     `json:"as_of"`
}

type dayResponse struct {
	Date              string          `json:"date"`
	BookingsConfirmed int64           `json:"bookings_confirmed"`
	TicketsSold       int64           `json:"tickets_sold"`
	BookingsCancelled int64           `json:"bookings_cancelled"`
	Revenue           []moneyResponse `json:"revenue"`
}

type eventAnalyticsResponse struct {
	EventID           uuid.UUID          `json:"event_id"`
	Name              string             `json:"name"`
	Currency          string             `json:"currency"`
	Capacity          int64              `json:"capacity"`
	Available         int64              `json:"available"`
	Held              int64              `json:"held"`
	Booked            int64              `json:"booked"`
	Utilization       float64            `json:"utilization"`
	TicketsSold       int64              `json:"tickets_sold"`
	RevenueCents      int64              `json:"revenue_cents"`
	BookingsConfirmed int64              `json:"bookings_confirmed"`
	BookingsCancelled int64              `json:"bookings_cancelled"`
	CancellationRate  float64            `json:"cancellation_rate"`
	WaitlistWaiting   int64              `json:"waitlist_waiting"`
	SalesByDay        []daySalesResponse `json:"sales_by_day"`
	AsOf              time.Time          `json:"as_of"`
}

type daySalesResponse struct {
	Date              string `json:"date"`
	BookingsConfirmed int64  `json:"bookings_confirmed"`
	TicketsSold       int64  `json:"tickets_sold"`
	RevenueCents      int64  `json:"revenue_cents"`
}
