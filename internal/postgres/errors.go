package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evently/evently/internal/apperr"
)

// unavailableRetryAfter is what a client is told to wait when the database
// cannot answer: a restart or a fail-over takes seconds.
const unavailableRetryAfter = time.Second

// wrap is deferred by every exported store method: it names the
// operation once (format and args, as for fmt.Errorf) and passes what went
// wrong through translate, so that callers see the domain's error kinds
// and never a driver error that should have been one.
func wrap(errp *error, format string, args ...any) {
	if *errp == nil {
		return
	}
	*errp = fmt.Errorf(format+": %w", append(args, translate(*errp))...)
}

// missing is the answer to a lookup that found no row: NotFound, naming
// what was looked for ("No such webhook endpoint."). Other errors are
// returned as they are.
func missing(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.New(apperr.NotFound, "No such %s.", what)
	}
	return err
}

// translate is the one place where driver errors become the domain's
// kinds. It turns the errors that mean "the database cannot answer right
// now" — it is unreachable, restarting or shutting down, a connection
// broke, the pool or a statement timed out, or a transaction was aborted
// as a deadlock or serialization failure even after the retries — into
// apperr.Unavailable (503 with Retry-After): the request did nothing, and
// trying again shortly is the right thing to do. Every other error is
// returned as it is, so that a 500 remains what it should be: a bug.
func translate(err error) error {
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
