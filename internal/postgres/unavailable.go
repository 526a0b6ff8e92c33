package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evently/evently/internal/apperr"
)

// unavailableRetryAfter is what a client is told to wait when the database
// cannot answer: a restart or a fail-over takes seconds.
const unavailableRetryAfter = time.Second

// Translate turns the errors that mean "the database cannot answer right
// now" — it is unreachable, restarting or shutting down, a connection
// broke, the pool or a statement timed out, or a transaction was aborted
// as a deadlock or serialization failure even after the retries — into
// apperr.Unavailable (503 with Retry-After): the request did nothing, and
// trying again shortly is the right thing to do. Every other error is
// returned as it is, so that a 500 remains what it should be: a bug.
func Translate(err error) error {
	var ae *apperr.Error
	if err == nil || errors.As(err, &ae) || !transient(err) {
		return err
	}
	e := apperr.Wrap(err, apperr.Unavailable, "The database is not answering right now; nothing was changed. Try again shortly.")
	e.RetryAfter = unavailableRetryAfter
	return e
}

func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin or crash shutdown; cannot connect now (starting up)
			"53300",          // too many connections
			"40001", "40P01", // serialization failure, deadlock
			"57014": // statement cancelled (timeout)
			return true
		}
		return false
	}
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed")
}
