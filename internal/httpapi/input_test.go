package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/evently/evently/internal/apperr"
)

func fieldsOf(err error) []string {
	if err == nil {
		return nil
	}
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		return []string{"(not an apperr.Error)"}
	}
	var out []string
	for _, f := range ae.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestCheckJSONText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		raw  string
		want []string // the fields refused
	}{
		{"plain", `{"name":"Hamlet","n":1,"ok":true,"x":null}`, nil},
		{"unicode", `{"name":"Zürich \u00e9 😀 \ud83d\ude00 \ufffd"}`, nil},
		{"escaped backslash then u0000 text", `{"name":"a\\u0000b"}`, nil},
		{"NUL escape", `{"name":"a\u0000b"}`, []string{"name"}},
		{"invalid UTF-8", "{\"name\":\"a\xc3\"}", []string{"name"}},
		{"overlong UTF-8", "{\"name\":\"\xc0\x80\"}", []string{"name"}},
		{"lone high surrogate", `{"name":"\ud800"}`, []string{"name"}},
		{"lone low surrogate", `{"name":"\udc00x"}`, []string{"name"}},
		{"high surrogate then non-low", `{"name":"\ud800\u0041"}`, []string{"name"}},
		{"nested", `{"waiting_room":{"enabled":true,"label":"\u0000"}}`, []string{"waiting_room.label"}},
		{"array of objects", `{"sections":[{"name":"a"},{"name":"b\u0000"}]}`, []string{"sections[1].name"}},
		{"array of strings", `{"tags":["a","b","\u0000"]}`, []string{"tags[2]"}},
		{"array of arrays", `{"m":[[1,2],["x","\u0000"]]}`, []string{"m[1][1]"}},
		{"member name", `{"na\u0000me":"x"}`, []string{"na\x00me"}},
		{"after nested object", `{"a":{"b":"c"},"d":"\u0000"}`, []string{"d"}},
		{"top-level string", `"\u0000"`, []string{"body"}},
		{"several", `{"a":"\u0000","b":"ok","c":"` + "\xff" + `"}`, []string{"a", "c"}},
		{"quote and colon inside strings", `{"a":"x\":{[,","b":"\u0000"}`, []string{"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var v apperr.Validator
			checkJSONText(&v, []byte(c.raw))
			if got := fieldsOf(v.Err()); !slices.Equal(got, c.want) {
				t.Errorf("checkJSONText(%q) refuses %q, want %q", c.raw, got, c.want)
			}
		})
	}
}

func TestCheckIntRanges(t *testing.T) {
	t.Parallel()
	type inner struct {
		Max nullable[int] `json:"max_active"`
	}
	type body struct {
		Count    int            `json:"count"`
		Big      int64          `json:"price_cents"`
		Ptr      *int           `json:"ptr"`
		Inner    *inner         `json:"waiting_room"`
		List     []inner        `json:"sections"`
		Unsigned uint           `json:"unsigned"`
		Map      map[string]int `json:"map"`
		Skipped  int            `json:"-"`
	}
	big := math.MaxInt32 + 1
	ok := body{Count: math.MaxInt32, Big: math.MaxInt64, Ptr: new(int), Skipped: big,
		Inner: &inner{Max: nullable[int]{Set: true, Value: math.MinInt32}}}
	var v apperr.Validator
	checkIntRanges(&v, &ok)
	if err := v.Err(); err != nil {
		t.Errorf("checkIntRanges(in range) = %v", err)
	}
	bad := body{Count: big, Ptr: &big, Inner: &inner{Max: nullable[int]{Set: true, Value: big}},
		List: []inner{{}, {Max: nullable[int]{Set: true, Value: -big - 1}}}, Unsigned: uint(big),
		Map: map[string]int{"k": big}}
	v = apperr.Validator{}
	checkIntRanges(&v, &bad)
	want := []string{"count", "ptr", "waiting_room.max_active", "sections[1].max_active", "unsigned", "map.k"}
	if got := fieldsOf(v.Err()); !slices.Equal(got, want) {
		t.Errorf("checkIntRanges(out of range) refuses %q, want %q", got, want)
	}
}

func TestCheckRequestText(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	h := s.checkRequestText(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	cases := []struct {
		query  string
		header string // Idempotency-Key
		want   []string
	}{
		{"", "", nil},
		{"q=caf%C3%A9&limit=5&&x", "key-1", nil},
		{"q=a+b%20c", "", nil},
		{"category=%00", "", []string{"category"}},
		{"venue=%c3", "", []string{"venue"}},
		{"a=1&b=%zz", "", []string{"b"}},
		{"%zz=1", "", []string{"query"}},
		{"%00=1", "", []string{"query"}},
		{"a=1;b=2", "", []string{"a"}},
		{"a=ok&c=%ff%fe&d=%00", "", []string{"c", "d"}},
		{"", "k\xc3", []string{"Idempotency-Key"}},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = c.query
		if c.header != "" {
			req.Header.Set("Idempotency-Key", c.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if c.want == nil {
			if rec.Code != http.StatusNoContent {
				t.Errorf("?%s = %d %s, want it passed on", c.query, rec.Code, rec.Body)
			}
			continue
		}
		if rec.Code != http.StatusBadRequest {
			t.Errorf("?%s = %d, want 400", c.query, rec.Code)
			continue
		}
		p := decodeProblem(t, rec)
		var got []string
		for _, e := range p.Errors {
			got = append(got, e.Field)
		}
		if p.Code != apperr.ValidationFailed || !slices.Equal(got, c.want) {
			t.Errorf("?%s = %s %q, want validation_failed %q", c.query, p.Code, got, c.want)
		}
	}
}

func TestSeatCursorPastInt4(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`{"p":2147483648}`, `{"p":9223372036854775807}`, `{"p":0}`, `{"p":-1}`} {
		req := httptest.NewRequest(http.MethodGet, "/?cursor="+base64.RawURLEncoding.EncodeToString([]byte(raw)), nil)
		if _, err := parsePage[seatCursor](req, maxSeatListLimit); !slices.Equal(fieldsOf(err), []string{"cursor"}) {
			t.Errorf("parsePage(cursor %s) = %v, want a cursor error", raw, err)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/?cursor="+base64.RawURLEncoding.EncodeToString([]byte(`{"p":2147483647}`)), nil)
	if p, err := parsePage[seatCursor](req, maxSeatListLimit); err != nil || p.Cursor.Position != math.MaxInt32 {
		t.Errorf("parsePage(cursor at the int4 maximum) = %+v, %v", p, err)
	}
}

// requestBodies are the request DTOs the decoder serves, each with a
// valid example: the fuzzer starts from these.
var requestBodies = []struct {
	decode func(w http.ResponseWriter, r *http.Request) (any, error)
	seed   string
}{
	{decodeAs[registerRequest], `{"email":"ada@example.com","password":"password-1","name":"Ada"}`},
	{decodeAs[loginRequest], `{"email":"ada@example.com","password":"password-1"}`},
	{decodeAs[refreshRequest], `{"refresh_token":"abc"}`},
	{decodeAs[roleRequest], `{"role":"admin"}`},
	{decodeAs[passwordChangeRequest], `{"current_password":"password-1","new_password":"password-2"}`},
	{decodeAs[eventInput], `{"name":"Hamlet","venue":"Barbican","starts_at":"2030-01-01T19:00:00Z","description":null,` +
		`"waiting_room":{"enabled":true,"admit_per_minute":10,"max_active":5},` +
		`"sections":[{"name":"Stalls","price_cents":3500,"rows":10,"seats_per_row":20},{"name":"Floor","price_cents":1,"capacity":100}]}`},
	{decodeAs[sectionInput], `{"name":"Box","price_cents":100,"capacity":5}`},
	{decodeAs[createBookingRequest], `{"event_id":"01900000-0000-7000-8000-000000000001","quantity":2,"section":"Floor"}`},
	{decodeAs[createBookingRequest], `{"event_id":"01900000-0000-7000-8000-000000000001","seat_ids":["01900000-0000-7000-8000-000000000002"]}`},
	{decodeOptionalAs[confirmBookingRequest], `{"payment_reference":"pay-1"}`},
	{decodeAs[joinWaitlistRequest], `{"quantity":2}`},
}

func decodeAs[T any](w http.ResponseWriter, r *http.Request) (any, error) {
	v, err := decode[T](w, r)
	return &v, err
}

func decodeOptionalAs[T any](w http.ResponseWriter, r *http.Request) (any, error) {
	v, err := decodeOptional[T](w, r)
	return &v, err
}

// FuzzDecode feeds arbitrary bodies to the decoder of every request type:
// it must never panic or answer 5xx, every refusal must be a 4xx problem
// document, and whatever it accepts must obey the input rule (strings
// valid UTF-8 without NUL, int fields within int4).
//
// Run it longer with: go test -run '^$' -fuzz FuzzDecode -fuzztime 5m ./internal/httpapi/
func FuzzDecode(f *testing.F) {
	for _, b := range requestBodies {
		f.Add([]byte(b.seed))
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `"x"`, `{"name":"\u0000"}`, "{\"name\":\"\xc3\"}",
		`{"name":"\ud800"}`, `{"quantity":2147483648}`, `{"quantity":1e400}`, `{"waiting_room":{"max_active":2147483648}}`,
		`{"sections":[{"capacity":-2147483649}]}`, `{"a":1}{"b":2}`, `{"payment_reference":null}`} {
		f.Add([]byte(s))
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, b := range requestBodies {
			var accepted any
			h := s.api(func(w http.ResponseWriter, r *http.Request) error {
				v, err := b.decode(w, r)
				if err != nil {
					return err
				}
				accepted = v
				w.WriteHeader(http.StatusNoContent)
				return nil
			})
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h(rec, req)
			checkFuzzAnswer(t, rec, accepted)
		}
	})
}

// FuzzQuery feeds arbitrary query strings, and cursors made of arbitrary
// JSON, to the parsers of every list: no panic, no 5xx, refusals are 400
// problem documents, and what is accepted obeys the input rule.
//
// Run it longer with: go test -run '^$' -fuzz FuzzQuery -fuzztime 5m ./internal/httpapi/
func FuzzQuery(f *testing.F) {
	f.Add("category=%00", []byte(nil))
	f.Add("venue=%c3&q=hamlet&from=2030-01-01&to=2030-02-01T00:00:00Z", []byte(nil))
	f.Add("limit=5&section=Floor", []byte(`{"p":2147483648}`))
	f.Add("limit=99999999999999999999", []byte(`{"p":42}`))
	f.Add("", []byte(`{"s":"2030-01-01T00:00:00Z","i":"01900000-0000-7000-8000-000000000001"}`))
	f.Add("status=published", []byte(`{"t":"2030-01-01T00:00:00Z","id":"01900000-0000-7000-8000-000000000001"}`))
	f.Add("a=1;b=2&%zz", []byte(`{"id":"01900000-0000-7000-8000-000000000001"}`))
	s := newTestServer(f)
	parsers := []func(r *http.Request) (any, error){
		func(r *http.Request) (any, error) { return eventListQuery(r) },
		func(r *http.Request) (any, error) { return parsePage[seatCursor](r, maxSeatListLimit) },
		func(r *http.Request) (any, error) { return parsePage[idCursor](r, maxListLimit) },
		func(r *http.Request) (any, error) { return parsePage[createdCursor](r, maxListLimit) },
	}
	f.Fuzz(func(t *testing.T, query string, cursor []byte) {
		if len(cursor) > 0 {
			query += "&cursor=" + base64.RawURLEncoding.EncodeToString(cursor)
		}
		for _, parse := range parsers {
			var accepted any
			h := s.checkRequestText(s.api(func(w http.ResponseWriter, r *http.Request) error {
				v, err := parse(r)
				if err != nil {
					return err
				}
				accepted = v
				w.WriteHeader(http.StatusNoContent)
				return nil
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.RawQuery = query
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 400 && rec.Code != http.StatusBadRequest {
				t.Fatalf("?%s answered %d, want 400 for a bad query", query, rec.Code)
			}
			checkFuzzAnswer(t, rec, accepted)
		}
	})
}

// checkFuzzAnswer checks one answer of a fuzzed request: accepted (204)
// with a value that obeys the input rule, or a 4xx problem document.
func checkFuzzAnswer(t *testing.T, rec *httptest.ResponseRecorder, accepted any) {
	t.Helper()
	switch {
	case rec.Code >= 500:
		t.Fatalf("answered %d: %s", rec.Code, rec.Body)
	case rec.Code == http.StatusNoContent:
		if msg := breaksInputRule(reflect.ValueOf(accepted), ""); msg != "" {
			t.Fatalf("accepted a value that breaks the input rule: %s", msg)
		}
	case rec.Code >= 400:
		var p problem
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("answered %d with Content-Type %q", rec.Code, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Code == "" {
			t.Fatalf("answered %d with a bad problem document: %s", rec.Code, rec.Body)
		}
		if p.Code == apperr.ValidationFailed && len(p.Errors) == 0 && !strings.HasPrefix(p.Detail, "Invalid value") {
			t.Fatalf("validation_failed names no field: %s", rec.Body)
		}
	default:
		t.Fatalf("answered %d", rec.Code)
	}
}

// breaksInputRule walks a decoded value independently of the decoder's
// own checks and says where it holds text Postgres would refuse or an int
// past int4.
func breaksInputRule(rv reflect.Value, path string) string {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !rv.IsNil() {
			return breaksInputRule(rv.Elem(), path)
		}
	case reflect.String:
		if s := rv.String(); !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return path + ": " + strings.ToValidUTF8(s, "?")
		}
	case reflect.Int:
		if n := rv.Int(); n > math.MaxInt32 || n < math.MinInt32 {
			return path + ": past int4"
		}
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			if msg := breaksInputRule(rv.Index(i), path+"[]"); msg != "" {
				return msg
			}
		}
	case reflect.Struct:
		for i := range rv.NumField() {
			if !rv.Type().Field(i).IsExported() {
				continue
			}
			if msg := breaksInputRule(rv.Field(i), path+"."+rv.Type().Field(i).Name); msg != "" {
				return msg
			}
		}
	}
	return ""
}
