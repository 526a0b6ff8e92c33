package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeline is a transaction sent as pipelines of statements on one
// connection: its BEGIN travels with the first pipeline and its COMMIT
// with the last, so a transaction that reads, decides in Go, then writes
// costs two round trips instead of four. On a busy machine every round
// trip is two wake-ups; this is what lets a batch of bookings cost about
// what one booking did.
type pipeline struct {
	conn      *pgxpool.Conn
	open      bool // BEGIN sent
	committed bool
}

// inPipeline runs fn as one transaction on a pooled connection. When fn
// returns nil without having committed, the transaction is committed on
// its own round trip; when it returns an error, it is rolled back.
func inPipeline(ctx context.Context, pool *pgxpool.Pool, fn func(p *pipeline) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	// A connection released inside a transaction (one whose ROLLBACK
	// failed) is closed by the pool, never reused.
	defer conn.Release()
	p := &pipeline{conn: conn}
	if err := fn(p); err != nil {
		p.rollback(ctx)
		return err
	}
	if p.open && !p.committed {
		if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	return nil
}

// exchange sends b's statements in one round trip — after BEGIN when the
// transaction is not open yet, and followed by COMMIT when commit is set —
// and lets read read their results in order.
func (p *pipeline) exchange(ctx context.Context, b *pgx.Batch, commit bool, read func(pgx.BatchResults) error) error {
	if p.committed {
		return errors.New("pipeline: transaction already committed")
	}
	sent := &pgx.Batch{}
	begin := !p.open
	if begin {
		sent.Queue("BEGIN")
	}
	sent.QueuedQueries = append(sent.QueuedQueries, b.QueuedQueries...)
	if commit {
		sent.Queue("COMMIT")
	}
	p.open = true
	res := p.conn.SendBatch(ctx, sent)
	err := func() error {
		if begin {
			if _, err := res.Exec(); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
		}
		if err := read(res); err != nil {
			return err
		}
		if commit {
			if _, err := res.Exec(); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
		}
		return nil
	}()
	if cerr := res.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && commit {
		p.committed = true
	}
	return err
}

// rollback ends a transaction that failed (best effort: a connection left
// in a transaction is closed on release).
func (p *pipeline) rollback(ctx context.Context) {
	if !p.open || p.committed || p.conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	_, _ = p.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
}
