package postgres

import "strconv"

// queryArgs collects the parameters of a query built piece by piece: add
// appends one and returns its placeholder ($1, $2, ...).
type queryArgs []any

func (a *queryArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}
