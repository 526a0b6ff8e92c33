package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evently/evently/internal/apperr"
)

// sampleCursor stands for a list sorted by a time, then an id.
type sampleCursor struct {
	StartsAt time.Time `json:"s"`
	ID       uuid.UUID `json:"i"`
}

func (c sampleCursor) Validate() error {
	if c.ID == uuid.Nil {
		return apperr.New(apperr.ValidationFailed, "no id")
	}
	return nil
}

func TestParsePage(t *testing.T) {
	t.Parallel()
	c := sampleCursor{StartsAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), ID: uuid.New()}
	valid, err := encodeCursor(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		query     string
		limit     int
		hasCursor bool
		badField  string
	}{
		{"", 20, false, ""},
		{"?limit=1", 1, false, ""},
		{"?limit=100", 100, false, ""},
		{"?limit=101", 100, false, ""},
		{"?limit=99999999999999999999999", 100, false, ""},
		{"?limit=", 20, false, ""},
		{"?limit=0", 0, false, "limit"},
		{"?limit=-5", 0, false, "limit"},
		{"?limit=-99999999999999999999999", 0, false, "limit"},
		{"?limit=ten", 0, false, "limit"},
		{"?limit=2.5", 0, false, "limit"},
		{"?limit=0x10", 0, false, "limit"},
		{"?cursor=" + valid, 20, true, ""},
		{"?limit=5&cursor=" + valid, 5, true, ""},
		{"?cursor=***", 0, false, "cursor"},
		{"?cursor=" + valid + "x", 0, false, "cursor"},
		{"?cursor=" + enc([]byte(`{"s":"2030-01-02T03:04:05Z"}`)), 0, false, "cursor"},
		{"?cursor=" + enc([]byte(`{"s":"yesterday","i":"`+c.ID.String()+`"}`)), 0, false, "cursor"},
		{"?cursor=" + enc([]byte(`{"i":"`+c.ID.String()+`","x":1}`)), 0, false, "cursor"},
		{"?cursor=" + enc([]byte(`[]`)), 0, false, "cursor"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/things"+tc.query, nil)
		p, err := parsePage[sampleCursor](r, maxListLimit)
		if tc.badField != "" {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.ValidationFailed || len(ae.Fields) != 1 || ae.Fields[0].Field != tc.badField {
				t.Errorf("parsePage(%s) = %v, want validation_failed on %s", tc.query, err, tc.badField)
			}
			continue
		}
		if err != nil || p.Limit != tc.limit || p.HasCursor != tc.hasCursor {
			t.Errorf("parsePage(%s) = %+v, %v; want limit %d, cursor %v", tc.query, p, err, tc.limit, tc.hasCursor)
		}
		if tc.hasCursor && (p.Cursor.ID != c.ID || !p.Cursor.StartsAt.Equal(c.StartsAt)) {
			t.Errorf("parsePage(%s).Cursor = %+v, want %+v", tc.query, p.Cursor, c)
		}
	}
	if p, err := parsePage[sampleCursor](httptest.NewRequest("GET", "/seats?limit=5000", nil), 1000); err != nil || p.Limit != 1000 {
		t.Errorf("parsePage(limit=5000, max 1000) = %+v, %v; want 1000", p, err)
	}
}

func TestNewList(t *testing.T) {
	t.Parallel()
	items := []int{1, 2, 3, 4}
	conv := strconv.Itoa
	cursorOf := func(i int) sampleCursor { return sampleCursor{ID: uuid.NewSHA1(uuid.Nil, []byte{byte(i)})} }

	full, err := newList(items, 3, conv, cursorOf)
	if err != nil || len(full.Data) != 3 || full.Data[2] != "3" || full.NextCursor == nil {
		t.Fatalf("newList(4 items, limit 3) = %+v, %v; want 3 items and a cursor", full, err)
	}
	next, err := decodeCursor[sampleCursor](*full.NextCursor)
	if err != nil || next != cursorOf(3) {
		t.Errorf("next cursor = %+v, %v; want the last shown item's (%+v)", next, err, cursorOf(3))
	}
	last, err := newList(items, 4, conv, cursorOf)
	if err != nil || len(last.Data) != 4 || last.NextCursor != nil {
		t.Errorf("newList(4 items, limit 4) = %+v, %v; want 4 items, no cursor", last, err)
	}
	empty, err := newList([]int(nil), 10, conv, cursorOf)
	if err != nil || empty.Data == nil || len(empty.Data) != 0 || empty.NextCursor != nil {
		t.Errorf("newList(none) = %+v, %v; want an empty (not null) data and no cursor", empty, err)
	}
}
