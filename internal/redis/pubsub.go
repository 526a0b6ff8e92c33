package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evently/evently/internal/feed"
)

// Changes is the live feed's bus on Redis pub/sub. Each event has one
// channel, changes:{<event>}, whose messages are the kinds of change as a
// decimal number (feed.Kind bits). A process holds one pub/sub connection
// and subscribes it to the events its clients follow; go-redis reconnects
// it and subscribes again on its own, and the confirmations that follow
// tell the Hub to re-read what it may have missed. Pub/sub channels are
// not scoped by database index: the event id keeps them apart.
type Changes struct {
	rdb goredis.UniversalClient

	once sync.Once
	ps   *goredis.PubSub
	msgs chan feed.Message
	quit chan struct{}
	shut sync.Once
}

var (
	_ feed.Bus       = (*Changes)(nil)
	_ feed.Publisher = (*Changes)(nil)
)

// NewChanges returns the bus on rdb. It connects when first listened to.
func NewChanges(rdb goredis.UniversalClient) *Changes {
	return &Changes{rdb: rdb, quit: make(chan struct{})}
}

// changesPrefix starts every channel name.
const changesPrefix = "changes:{"

func changesChannel(eventID uuid.UUID) string { return changesPrefix + eventID.String() + "}" }

func eventOfChannel(ch string) (uuid.UUID, bool) {
	s, ok := strings.CutPrefix(ch, changesPrefix)
	if !ok {
		return uuid.Nil, false
	}
	s, ok = strings.CutSuffix(s, "}")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// Publish sends the notices in one round trip (a pipeline of PUBLISH).
func (c *Changes) Publish(ctx context.Context, notices []feed.Notice) error {
	if len(notices) == 0 {
		return nil
	}
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, n := range notices {
			p.Publish(ctx, changesChannel(n.EventID), strconv.Itoa(int(n.Kinds)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %d change notice(s): %w", len(notices), err)
	}
	return nil
}

// listen opens the pub/sub connection and starts reading it.
func (c *Changes) listen() {
	c.once.Do(func() {
		c.ps = c.rdb.Subscribe(context.Background())
		c.msgs = make(chan feed.Message, 256)
		in := c.ps.ChannelWithSubscriptions(goredis.WithChannelSize(1024))
		go c.read(in)
	})
}

// read turns go-redis messages into feed messages until the connection
// closes.
func (c *Changes) read(in <-chan any) {
	defer close(c.msgs)
	for m := range in {
		var out feed.Message
		switch m := m.(type) {
		case *goredis.Subscription:
			id, ok := eventOfChannel(m.Channel)
			if !ok {
				continue
			}
			out.EventID = id
			switch m.Kind {
			case "subscribe":
				out.Confirms = feed.Subscribed
			case "unsubscribe":
				out.Confirms = feed.Unsubscribed
			default:
				continue
			}
		case *goredis.Message:
			id, ok := eventOfChannel(m.Channel)
			if !ok {
				continue
			}
			k, err := strconv.Atoi(m.Payload)
			if err != nil || k <= 0 || k > 255 {
				continue
			}
			out.EventID, out.Kinds = id, feed.Kind(k)
		default:
			continue
		}
		select {
		case c.msgs <- out:
		case <-c.quit:
			return
		}
	}
}

// Subscribe listens to an event's notices.
func (c *Changes) Subscribe(ctx context.Context, eventID uuid.UUID) error {
	c.listen()
	if err := c.ps.Subscribe(ctx, changesChannel(eventID)); err != nil {
		return fmt.Errorf("subscribe to changes of event %s: %w", eventID, err)
	}
	return nil
}

// Unsubscribe stops listening to an event's notices.
func (c *Changes) Unsubscribe(ctx context.Context, eventID uuid.UUID) error {
	c.listen()
	if err := c.ps.Unsubscribe(ctx, changesChannel(eventID)); err != nil {
		return fmt.Errorf("unsubscribe from changes of event %s: %w", eventID, err)
	}
	return nil
}

// Messages delivers notices and confirmations in the order Redis sent
// them.
func (c *Changes) Messages() <-chan feed.Message {
	c.listen()
	return c.msgs
}

// Close closes the pub/sub connection (the client stays open).
func (c *Changes) Close() error {
	c.listen()
	var err error
	c.shut.Do(func() {
		close(c.quit)
		err = c.ps.Close()
	})
	return err
}
