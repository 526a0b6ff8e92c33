package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/notify"
)

// Webhooks counts webhook delivery attempts by outcome and attempt number.
type Webhooks struct {
	attempts *prometheus.CounterVec
}

var _ notify.AttemptObserver = (*Webhooks)(nil)

// attemptLabels are the attempt numbers as labels: the first three alone
// (they come within seconds of the change), later ones in two groups, so
// that the series stay few however many attempts a delivery gets.
var attemptLabels = []string{"1", "2", "3", "4-7", "8+"}

func attemptLabel(n int) string {
	switch {
	case n <= 3:
		return strconv.Itoa(max(n, 1))
	case n <= 7:
		return "4-7"
	default:
		return "8+"
	}
}

// NewWebhooks registers the webhook metrics with reg. Every series exists
// from the start at 0, so that rates and alerts see a zero rather than
// nothing.
func NewWebhooks(reg prometheus.Registerer) *Webhooks {
	m := &Webhooks{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "evently_webhook_delivery_attempts_total",
		Help: "Webhook delivery attempts by outcome (delivered: 2xx; retried: failed, another attempt follows; " +
			"failed: the last attempt failed and the delivery is given up) and attempt number (1, 2, 3, 4-7, 8+).",
	}, []string{"outcome", "attempt"})}
	for _, o := range notify.AttemptOutcomes {
		for _, a := range attemptLabels {
			m.attempts.WithLabelValues(string(o), a)
		}
	}
	reg.MustRegister(m.attempts)
	return m
}

// Attempted implements notify.AttemptObserver.
func (m *Webhooks) Attempted(n int, outcome notify.AttemptOutcome) {
	m.attempts.WithLabelValues(string(outcome), attemptLabel(n)).Inc()
}
