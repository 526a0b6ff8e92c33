package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/evently/evently/internal/apperr"
)

// The input rule: every string a request carries — in its JSON body, its
// query or the headers the API reads as text — is valid UTF-8 without NUL
// characters, and every integer fits the column it is stored in. Postgres
// refuses both NUL and invalid UTF-8 in text, and an int4 column refuses
// numbers past 2^31−1; checked here, at the edge, such input is a 400
// validation_failed naming the field instead of a 500 from the database.
//
// Integers follow one convention: a request field of Go type int (or
// uint) is stored in an integer (int4) column and must fit one; a field
// stored in a bigint column is an int64.

// Messages of the input rule.
const (
	msgInvalidUTF8 = "must be valid UTF-8 text"
	msgNUL         = "must not contain NUL characters"
)

// textHeaders are the request headers the API reads as text.
var textHeaders = []string{"Idempotency-Key"}

// checkText returns why s breaks the input rule, or "".
func checkText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return msgInvalidUTF8
	case strings.IndexByte(s, 0) >= 0:
		return msgNUL
	}
	return ""
}

// checkRequestText enforces the input rule on the query and the text
// headers of every request: a 400 validation_failed names each offending
// parameter or header. Percent-encoding that does not decode, and ';' as a
// separator (which Go's query parser drops silently), are refused too, so
// that what handlers read is exactly what the client sent.
func (s *Server) checkRequestText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v apperr.Validator
		checkQuery(&v, r.URL.RawQuery)
		for _, h := range textHeaders {
			for _, val := range r.Header.Values(h) {
				if msg := checkText(val); msg != "" {
					v.Add(h, msg)
				}
			}
		}
		if err := v.Err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQuery adds a field error for each query parameter that breaks the
// input rule, named by its (decoded) name.
func checkQuery(v *apperr.Validator, raw string) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			v.Add("query", "has a parameter name whose percent-encoding does not decode")
			continue
		}
		if msg := checkText(key); msg != "" {
			v.Add("query", "parameter names "+msg)
			continue
		}
		if strings.Contains(pair, ";") {
			v.Add(key, "must not contain ';' (separate parameters with '&', encode it as %3B)")
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			v.Add(key, "has percent-encoding that does not decode")
			continue
		}
		if msg := checkText(value); msg != "" {
			v.Add(key, msg)
		}
	}
}

// checkJSONText adds a field error for each string of raw, a well-formed
// JSON text, that breaks the input rule. It reads the raw bytes because
// encoding/json replaces invalid UTF-8 and lone surrogate escapes with
// U+FFFD without a word. Fields are named by their JSON path, as the
// domain names them: "name", "sections[0].name", "waiting_room.max_active".
func checkJSONText(v *apperr.Validator, raw []byte) {
	type level struct {
		object bool
		inKey  bool // the next string is a member name
		key    string
		index  int
	}
	var stack []level
	path := func(key string, withKey bool) string {
		var b strings.Builder
		for i, l := range stack {
			last := i == len(stack)-1
			switch {
			case !l.object:
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
			case last && l.inKey:
			default:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			}
		}
		if withKey {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(key)
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	for i := 0; i < len(raw); i++ {
		var top *level
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch raw[i] {
		case '{':
			stack = append(stack, level{object: true, inKey: true})
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			if top != nil {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if top != nil && top.object {
				top.inKey = true
			} else if top != nil {
				top.index++
			}
		case ':':
			if top != nil {
				top.inKey = false
			}
		case '"':
			isKey := top != nil && top.object && top.inKey
			s, end, msg := scanJSONString(raw, i, isKey)
			switch {
			case isKey && msg != "":
				v.Add(path(s, true), "member names "+msg)
			case isKey:
				top.key = s
			case msg != "":
				v.Add(path("", false), msg)
			}
			i = end
		}
	}
}

// scanJSONString reads the string literal that starts at raw[start] (a
// quote) and returns the index of its closing quote and why it breaks the
// input rule ("" when it does not). It decodes the literal only when
// decode is set (member names, for paths).
func scanJSONString(raw []byte, start int, decode bool) (s string, end int, msg string) {
	var b strings.Builder
	fail := func(m string) {
		if msg == "" {
			msg = m
		}
	}
	i := start + 1
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '"':
			return b.String(), i, msg
		case c == '\\' && i+1 < len(raw):
			if raw[i+1] != 'u' {
				if decode {
					b.WriteByte(unescapeJSON(raw[i+1]))
				}
				i += 2
				continue
			}
			r, n, ok := readJSONEscape(raw[i:])
			switch {
			case !ok:
				fail(msgInvalidUTF8) // a lone surrogate
			case r == 0:
				fail(msgNUL)
			}
			if decode {
				b.WriteRune(r)
			}
			i += n
		case c < utf8.RuneSelf:
			if c == 0 {
				fail(msgNUL)
			}
			if decode {
				b.WriteByte(c)
			}
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n <= 1 {
				fail(msgInvalidUTF8)
				n = 1
			}
			if decode {
				b.WriteRune(r)
			}
			i += n
		}
	}
	return b.String(), len(raw) - 1, msg
}

// readJSONEscape decodes a \uXXXX escape at the start of b (with the low
// half of a surrogate pair when one follows) and returns the rune, the
// bytes read, and false for a lone surrogate (or bad hex), which stands
// for no character at all.
func readJSONEscape(b []byte) (rune, int, bool) {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[2:6]), 16, 32)
		return rune(n), err == nil
	}
	r, ok := hex4(b)
	if !ok {
		return utf8.RuneError, min(2, len(b)), false
	}
	switch {
	case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
		if lo, ok := hex4(b[6:]); ok && lo >= 0xDC00 && lo < 0xE000 {
			return (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000, 12, true
		}
		return utf8.RuneError, 6, false
	case r >= 0xDC00 && r < 0xE000:
		return utf8.RuneError, 6, false
	}
	return r, 6, true
}

func unescapeJSON(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\', '/'
}

// checkIntRanges adds a field error for each integer of v (a decoded
// request) that does not fit its column: Go int and uint fields are int4.
// Fields are named by their JSON path; a struct with its own UnmarshalJSON
// (such as nullable) is one JSON value, its fields carry its name.
func checkIntRanges(v *apperr.Validator, value any) {
	walkInts(v, reflect.ValueOf(value), "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func walkInts(v *apperr.Validator, rv reflect.Value, path string) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !rv.IsNil() {
			walkInts(v, rv.Elem(), path)
		}
	case reflect.Int:
		if n := rv.Int(); n > math.MaxInt32 || n < math.MinInt32 {
			v.Add(fieldName(path), "must be between -2147483648 and 2147483647")
		}
	case reflect.Uint:
		if rv.Uint() > math.MaxInt32 {
			v.Add(fieldName(path), "must be at most 2147483647")
		}
	case reflect.Slice, reflect.Array:
		if k := rv.Type().Elem().Kind(); k != reflect.Int && k != reflect.Uint && !composite(k) {
			return // e.g. a UUID's bytes
		}
		for i := range rv.Len() {
			walkInts(v, rv.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return
		}
		iter := rv.MapRange()
		for iter.Next() {
			walkInts(v, iter.Value(), joinPath(path, iter.Key().String()))
		}
	case reflect.Struct:
		t := rv.Type()
		opaque := reflect.PointerTo(t).Implements(unmarshalerType)
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case opaque || (f.Anonymous && name == ""):
				walkInts(v, rv.Field(i), path)
			case name == "":
				walkInts(v, rv.Field(i), joinPath(path, f.Name))
			default:
				walkInts(v, rv.Field(i), joinPath(path, name))
			}
		}
	}
}

func composite(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		return true
	}
	return false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
