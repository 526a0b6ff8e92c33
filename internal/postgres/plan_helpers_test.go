package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// withoutSeqScans returns a connection of pool on which sequential scans
// are off, so that a plan without an index means there is none to use.
// It is released when t ends.
func withoutSeqScans(t *testing.T, pool *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(context.Background(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	return conn
}

// plan returns the text of the plan of query on conn.
func plan(t *testing.T, conn *pgxpool.Conn, query string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+query)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
