package redistest_test

import (
	"context"
	"testing"

	"github.com/evently/evently/internal/redistest"
)

func TestDatabasesAreSeparateAndFlushed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := redistest.New(t), redistest.New(t)
	if n, err := a.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("fresh db holds %d keys (%v)", n, err)
	}
	if err := a.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("key set through a visible through b (%d, %v)", n, err)
	}
}
