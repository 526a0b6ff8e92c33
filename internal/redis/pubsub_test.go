package redis_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/feed"
	"github.com/evently/evently/internal/redis"
	"github.com/evently/evently/internal/redistest"
	"github.com/evently/evently/internal/testenv"
)

// twoClients returns two clients on one Redis database, as two replicas
// of evently would hold.
func twoClients(t *testing.T) (goredis.UniversalClient, goredis.UniversalClient) {
	t.Helper()
	url := redistest.NewURL(t)
	var out [2]goredis.UniversalClient
	for i := range out {
		c, err := redis.Open(context.Background(), url, testenv.RedisCluster(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out[i] = c
	}
	return out[0], out[1]
}

func next(t *testing.T, c <-chan feed.Message) feed.Message {
	t.Helper()
	select {
	case m, ok := <-c:
		if !ok {
			t.Fatal("messages closed")
		}
		return m
	case <-time.After(2 * time.Second):
		t.Fatal("no message within 2s")
	}
	return feed.Message{}
}

// TestChangesAcrossConnections: a notice published by one process reaches
// another that listens to the event, after its subscription is confirmed,
// and stops reaching it once it unsubscribed.
func TestChangesAcrossConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ra, rb := twoClients(t)
	pub, sub := redis.NewChanges(ra), redis.NewChanges(rb)
	defer sub.Close()
	id, other := uuid.New(), uuid.New()
	msgs := sub.Messages()
	if err := sub.Subscribe(ctx, id); err != nil {
		t.Fatal(err)
	}
	if m := next(t, msgs); m.Confirms != feed.Subscribed || m.EventID != id {
		t.Fatalf("first message = %+v, want the subscription's confirmation", m)
	}
	if err := pub.Publish(ctx, []feed.Notice{
		{EventID: other, Kinds: feed.Availability},
		{EventID: id, Kinds: feed.Availability | feed.Queue},
	}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, msgs); m.Confirms != feed.NotConfirmation || m.EventID != id || m.Kinds != feed.Availability|feed.Queue {
		t.Fatalf("notice = %+v, want event %s availability+queue (and nothing of the other event)", m, id)
	}
	if err := sub.Unsubscribe(ctx, id); err != nil {
		t.Fatal(err)
	}
	if m := next(t, msgs); m.Confirms != feed.Unsubscribed || m.EventID != id {
		t.Fatalf("message = %+v, want the unsubscription's confirmation", m)
	}
	if err := pub.Publish(ctx, []feed.Notice{{EventID: id, Kinds: feed.Queue}}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		t.Fatalf("message after unsubscribing: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-msgs:
		if ok {
			t.Fatal("a message after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("messages not closed by Close")
	}
}

// TestHubFansOutAcrossProcesses: two hubs on one Redis, as two replicas;
// a change announced through the first process's notifier reaches the
// followers of the second within a second, with the state loaded there.
func TestHubFansOutAcrossProcesses(t *testing.T) {
	t.Parallel()
	ra, rb := twoClients(t)
	id := uuid.New()
	var version atomic.Value
	version.Store("1")
	load := func(context.Context, uuid.UUID) ([]byte, error) { return []byte(version.Load().(string)), nil }
	notifier := feed.NewNotifier(redis.NewChanges(ra), slog.New(slog.DiscardHandler))
	if err := notifier.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hub := feed.NewHub(redis.NewChanges(rb), feed.Options{Load: func(ctx context.Context, e uuid.UUID) ([]byte, error) {
		return load(ctx, e)
	}, Refresh: time.Hour})
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = notifier.Shutdown(ctx)
		_ = hub.Shutdown(ctx)
	})
	followers := make([]*feed.Subscription, 3)
	for i := range followers {
		s, err := hub.Subscribe(id, feed.Availability)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		followers[i] = s
	}
	queue, err := hub.Subscribe(id, feed.Queue)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.Close()
	for _, s := range followers {
		select {
		case <-s.Ready():
		case <-time.After(2 * time.Second):
			t.Fatal("not ready within 2s")
		}
		select {
		case <-s.Changes():
		case <-time.After(time.Second):
			t.Fatal("no initial state")
		}
	}
	version.Store("2")
	start := time.Now()
	notifier.Changed(id, feed.Availability|feed.Queue)
	for i, s := range append(followers, queue) {
		select {
		case <-s.Changes():
		case <-time.After(time.Second):
			t.Fatalf("follower %d: nothing within 1s of the change", i)
		}
	}
	for _, s := range followers {
		if string(s.Data()) != "2" {
			t.Errorf("Data() = %s, want the state after the change", s.Data())
		}
	}
	t.Logf("change reached 4 followers of the other process in %v", time.Since(start))
}
