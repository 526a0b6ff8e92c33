package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/evently/evently/internal/auth"
)

// Cache-Control of the public reads. An event or the list changes rarely
// and is fine a few seconds old; seat availability changes every second
// of an on-sale, so a seat page is always revalidated, which its ETag
// makes cheap: an unchanged page is a 304 without a body.
const (
	cacheEventList = "max-age=10"
	cacheEvent     = "max-age=5"
	cacheSeats     = "no-cache"
)

// etagOf is a weak entity tag for a representation: a hash of its bytes
// before any content coding (so gzip and identity share it, which a weak
// tag allows).
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `W/"` + hex.EncodeToString(sum[:16]) + `"`
}

// matchesETag reports whether an If-None-Match header names etag, by the
// weak comparison RFC 9110 prescribes for it ("*" matches anything).
func matchesETag(ifNoneMatch, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// cacheScope makes a public read's Cache-Control: "public" for anonymous
// callers, "private" when the answer was made for a signed-in caller (an
// admin sees drafts), so that no shared cache hands it to someone else.
func cacheScope(r *http.Request, directives string) string {
	if _, signedIn := auth.PrincipalFrom(r.Context()); signedIn {
		return "private, " + directives
	}
	return "public, " + directives
}

// writeCachedJSON answers 200 with v as JSON, its ETag and cacheControl,
// or 304 Not Modified without a body when the request's If-None-Match
// already names that ETag.
func writeCachedJSON(w http.ResponseWriter, r *http.Request, cacheControl string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	body = append(body, '\n')
	w.Header().Add("Vary", "Authorization")
	writeStatic(w, r, "application/json", cacheControl, body)
	return nil
}

// writeStatic answers 200 with body and its validators, or 304.
func writeStatic(w http.ResponseWriter, r *http.Request, contentType, cacheControl string, body []byte) {
	writeWithETag(w, r, contentType, cacheControl, etagOf(body), body)
}

// staticFile is a fixed response (the spec, the reference page and its
// script, the waiting-room page), its ETag computed once.
type staticFile struct {
	contentType, cacheControl, etag string
	body                            []byte
}

func newStaticFile(contentType, cacheControl string, body []byte) staticFile {
	return staticFile{contentType: contentType, cacheControl: cacheControl, etag: etagOf(body), body: body}
}

func (f staticFile) serve(w http.ResponseWriter, r *http.Request) {
	writeWithETag(w, r, f.contentType, f.cacheControl, f.etag, f.body)
}

func writeWithETag(w http.ResponseWriter, r *http.Request, contentType, cacheControl, etag string, body []byte) {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchesETag(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
