package postgres

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// queryArgs collects the parameters of a query built piece by piece: add
// appends one and returns its placeholder ($1, $2, ...).
type queryArgs []any

func (a *queryArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// conditions collects the conditions of a WHERE clause built piece by
// piece, all of which must hold.
type conditions []string

func (c *conditions) add(cond string) { *c = append(*c, cond) }

// sql is the WHERE clause (with a leading space), or "" when there is no
// condition.
func (c conditions) sql() string {
	if len(c) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c, " AND ")
}

// collect scans every row of a query's result with scan; err is the
// query's own, returned as it is.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}
