// Package migrations holds Evently's SQL schema migrations, embedded in the
// binary and applied by goose.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
