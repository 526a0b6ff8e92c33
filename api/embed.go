// Package api holds Evently's OpenAPI specification, embedded in the binary.
package api

import _ "embed"

// Spec is the OpenAPI 3 document describing every route Evently serves.
//
//go:embed openapi.yaml
var Spec []byte
