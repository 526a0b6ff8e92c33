package pgtest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SeatIDs returns the ids of the event's seats, in the order of their
// positions, failing t when they cannot be read.
func SeatIDs(t testing.TB, pool *pgxpool.Pool, eventID uuid.UUID) []uuid.UUID {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id FROM seats WHERE event_id = $1 ORDER BY position`, eventID)
	if err != nil {
		t.Fatalf("pgtest: read seats: %v", err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatalf("pgtest: read seats: %v", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("pgtest: read seats: %v", err)
	}
	return ids
}
