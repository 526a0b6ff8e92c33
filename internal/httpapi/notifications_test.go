package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apptest"
)

func kinds(ns []notificationJSON) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Kind
		if by, ok := n.Data["cancelled_by"]; ok {
			out[i] += fmt.Sprintf("(%v)", by)
		}
	}
	return fmt.Sprint(out)
}

// TestNotificationsInbox: confirmations and cancellations (by the owner and
// by an admin) reach the inbox newest first; pages, the unread view and
// marking read work; nobody sees or marks another's notifications.
func TestNotificationsInbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t)
	users := f.buyers(t, 2)
	buyer, other := users[0], users[1]

	first := f.buy(t, buyer, e.ID, 2)
	f.cancel(t, buyer, first.ID)
	second := f.buy(t, buyer, e.ID, 1)
	f.cancel(t, f.admin, second.ID)
	// A pending hold cancelled by its owner is not news.
	f.cancel(t, buyer, f.hold(t, buyer, map[string]any{"event_id": e.ID, "quantity": 1}).ID)

	all, pages := listAll[notificationJSON](t, f.env, "/api/v1/me/notifications?limit=2", buyer)
	if got := kinds(all); got != "[booking_cancelled(admin) booking_confirmed booking_cancelled(owner) booking_confirmed]" || pages != 2 {
		t.Fatalf("inbox = %s in %d pages", got, pages)
	}
	if all[0].Data["booking_id"] != second.ID || all[0].Data["event_id"] != e.ID || all[0].Title == "" || all[0].Body == "" {
		t.Errorf("newest notification = %+v", all[0])
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Errorf("notification %d is newer than %d", i, i-1)
		}
	}
	if len(f.inbox(t, other)) != 0 {
		t.Errorf("another user sees notifications")
	}

	read := func(id, token string) *apptest.Response {
		return f.env.Post(t, "/api/v1/me/notifications/"+id+"/read", token, nil)
	}
	if r := read(all[1].ID, buyer); r.Status != http.StatusNoContent {
		t.Fatalf("mark read = %d %s", r.Status, r.Body)
	}
	var unread listJSON[notificationJSON]
	f.env.Get(t, "/api/v1/me/notifications?unread=true", buyer).Decode(t, &unread)
	if len(unread.Data) != 3 {
		t.Errorf("unread = %d, want 3", len(unread.Data))
	}
	var readAt time.Time
	for _, n := range f.inbox(t, buyer) {
		if n.ID == all[1].ID {
			if n.ReadAt == nil {
				t.Fatal("read_at not set")
			}
			readAt = *n.ReadAt
		}
	}
	time.Sleep(10 * time.Millisecond)
	if r := read(all[1].ID, buyer); r.Status != http.StatusNoContent {
		t.Errorf("mark read again = %d", r.Status)
	}
	for _, n := range f.inbox(t, buyer) {
		if n.ID == all[1].ID && !n.ReadAt.Equal(readAt) {
			t.Errorf("read_at moved from %v to %v", readAt, n.ReadAt)
		}
	}
	wantProblem(t, "someone else's", read(all[0].ID, other), 404, "not_found")
	wantProblem(t, "unknown", read(uuid.NewString(), buyer), 404, "not_found")
	wantProblem(t, "not a uuid", read("nope", buyer), 404, "not_found")
	wantProblem(t, "anonymous read", read(all[0].ID, ""), 401, "unauthorized")
	wantProblem(t, "anonymous list", f.env.Get(t, "/api/v1/me/notifications", ""), 401, "unauthorized")
	wantProblem(t, "bad unread", f.env.Get(t, "/api/v1/me/notifications?unread=maybe", buyer), 400, "validation_failed", "unread")
	wantProblem(t, "bad cursor", f.env.Get(t, "/api/v1/me/notifications?cursor=zz", buyer), 400, "validation_failed", "cursor")
}

// TestHoldExpiredNotifications: a lapsed hold is reported whichever path
// expires it: a confirm attempt, a buyer taking its seats over (both with
// no cleanup run in between), or the cleanup.
func TestHoldExpiredNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_TTL", "1s"))
	e := f.publish(t, gaEvent(2))
	users := f.buyers(t, 3)
	seats := f.seatIDs(t, e.ID)
	confirmLate := f.hold(t, users[0], map[string]any{"event_id": e.ID, "seat_ids": seats[:1]})
	takenOver := f.hold(t, users[1], map[string]any{"event_id": e.ID, "seat_ids": seats[1:2]})
	time.Sleep(time.Until(takenOver.ExpiresAt) + 50*time.Millisecond)
	wantProblem(t, "confirm lapsed", f.env.Post(t, "/api/v1/bookings/"+confirmLate.ID+"/confirm", users[0], nil), 409, "hold_expired")
	f.hold(t, users[2], map[string]any{"event_id": e.ID, "seat_ids": seats[1:2]})
	for i, b := range []bookingJSON{confirmLate, takenOver} {
		if n := ofKind(f.inbox(t, users[i]), "hold_expired"); len(n) != 1 || n[0].Data["booking_id"] != b.ID {
			t.Errorf("hold_expired of hold %d = %+v", i, n)
		}
	}
	if n := f.inbox(t, users[2]); len(n) != 0 {
		t.Errorf("the buyer who took a lapsed seat over got %s", kinds(n))
	}

	c := newFixture(t, apptest.WithEnv("EVENTLY_HOLD_TTL", "1s"), apptest.WithEnv("EVENTLY_CLEANUP_SCHEDULE", "@every 1s"))
	buyer := c.buyers(t, 1)[0]
	cleaned := c.hold(t, buyer, map[string]any{"event_id": c.publish(t, gaEvent(1)).ID, "quantity": 1})
	eventually(t, 10*time.Second, "hold_expired from the cleanup", func() bool {
		n := ofKind(c.inbox(t, buyer), "hold_expired")
		return len(n) == 1 && n[0].Data["booking_id"] == cleaned.ID
	})
}

// TestEventCancelledNotifications: cancelling an event tells holders and
// owners it is cancelled, owners of confirmed bookings that theirs was
// cancelled, and ends its waitlist.
func TestEventCancelledNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.publish(t, gaEvent(3))
	users := f.buyers(t, 4)
	holder, owner, waiter, bystander := users[0], users[1], users[2], users[3]
	f.hold(t, holder, map[string]any{"event_id": e.ID, "quantity": 1})
	f.buy(t, owner, e.ID, 2)
	f.join(t, waiter, e.ID, 1)
	f.hold(t, bystander, map[string]any{"event_id": f.publish(t).ID, "quantity": 1})

	if r := f.env.Post(t, "/api/v1/admin/events/"+e.ID+"/cancel", f.admin, nil); r.Status != 200 {
		t.Fatalf("cancel event = %d %s", r.Status, r.Body)
	}
	if got := kinds(f.inbox(t, holder)); got != "[event_cancelled]" {
		t.Errorf("holder's inbox = %s", got)
	}
	ns := f.inbox(t, owner)
	if got := kinds(ns); got != "[booking_cancelled(event) event_cancelled booking_confirmed]" &&
		got != "[event_cancelled booking_cancelled(event) booking_confirmed]" {
		t.Errorf("owner's inbox = %s", got)
	}
	for _, n := range ns {
		if n.Data["event_id"] != e.ID {
			t.Errorf("notification %s names event %v", n.Kind, n.Data["event_id"])
		}
	}
	if got := kinds(f.inbox(t, bystander)); got != "[]" {
		t.Errorf("bystander's inbox = %s", got)
	}
	if got := f.entry(t, waiter, e.ID); got.Status != "expired" {
		t.Errorf("waitlist entry of the cancelled event = %s", got.Status)
	}
}
