package worker_test

import (
	"testing"

	"github.com/evently/evently/internal/redistest"
)

// TestMain stops the Redis Clusters that the tests started, if any.
func TestMain(m *testing.M) { redistest.Main(m) }
