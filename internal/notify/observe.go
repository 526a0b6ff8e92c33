package notify

// AttemptOutcome is how one delivery attempt ended.
type AttemptOutcome string

// The outcomes of an attempt.
const (
	// AttemptDelivered: the receiver answered 2xx; the delivery is done.
	AttemptDelivered AttemptOutcome = "delivered"
	// AttemptRetried: the attempt failed and another will follow.
	AttemptRetried AttemptOutcome = "retried"
	// AttemptFailed: the last attempt failed; the delivery has failed.
	AttemptFailed AttemptOutcome = "failed"
)

// AttemptOutcomes lists every outcome.
var AttemptOutcomes = []AttemptOutcome{AttemptDelivered, AttemptRetried, AttemptFailed}

// Outcome says how the attempt ended.
func (a Attempt) Outcome() AttemptOutcome {
	switch {
	case a.OK:
		return AttemptDelivered
	case a.Final:
		return AttemptFailed
	default:
		return AttemptRetried
	}
}

// AttemptObserver hears of every delivery attempt made (metrics).
type AttemptObserver interface {
	// Attempted reports attempt n (1 for a webhook's first) and how it
	// ended.
	Attempted(n int, outcome AttemptOutcome)
}
