package booking

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSoldOutMemo(t *testing.T) {
	t.Parallel()
	h := &hints{ttl: time.Second, m: map[hintKey]hint{}, sold: map[hintKey]soldMark{}}
	k := hintKey{event: uuid.New(), lo: 1, hi: 100}
	now := time.Now()
	if h.soldOut(k, 1, now) {
		t.Fatal("sold out before anything was marked")
	}
	h.markSoldOut(k, 3, now)
	if h.soldOut(k, 2, now) || !h.soldOut(k, 3, now) || !h.soldOut(k, 4, now) {
		t.Error("marking 3 must cover quantities of 3 and more only")
	}
	h.markSoldOut(k, 2, now)
	if !h.soldOut(k, 2, now) {
		t.Error("a smaller failing quantity must lower the mark")
	}
	// Two seats come back: quantities up to 3 may be served again.
	h.released(k.event, 2)
	if h.soldOut(k, 3, now) || !h.soldOut(k, 4, now) {
		t.Error("after 2 seats came back, 3 must be tried again and 4 still refused")
	}
	h.released(uuid.New(), 10) // another event's seats change nothing here
	if !h.soldOut(k, 4, now) {
		t.Error("another event's release lifted the mark")
	}
	if h.soldOut(k, 4, now.Add(soldOutTTL)) {
		t.Error("the mark outlived soldOutTTL")
	}
}
