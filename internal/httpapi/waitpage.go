package httpapi

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
)

// waitPageFiles are the waiting-room page: one HTML document whose style
// and script are inlined from these files when the server starts.
//
//go:embed waitpage/index.html waitpage/wait.css waitpage/wait.js
var waitPageFiles embed.FS

// waitPage is GET /wait/{event_id}: the page a buyer waits on. It is the
// same document for every event (the script reads the event id from the
// address), so it is built once, with the storefront address it sends
// admitted buyers to.
func (s *Server) waitPage(w http.ResponseWriter, r *http.Request) {
	if _, err := uuidParam(r, "event_id", "event"); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", s.waitPageDoc.policy)
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.waitPageDoc.file.serve(w, r)
}

// waitPageDoc is the built page and the Content-Security-Policy that
// admits its inline style and script (by their hashes) and nothing else.
type waitPageDoc struct {
	file   staticFile
	policy string
}

func newWaitPage(storefrontURL string) waitPageDoc {
	style := string(mustRead(waitPageFiles, "waitpage/wait.css"))
	script := string(mustRead(waitPageFiles, "waitpage/wait.js"))
	page := strings.NewReplacer(
		"{{STYLE}}", style,
		"{{SCRIPT}}", script,
		"{{STOREFRONT}}", html.EscapeString(storefrontURL),
	).Replace(string(mustRead(waitPageFiles, "waitpage/index.html")))
	policy := "default-src 'none'; script-src '" + cspHash(script) + "'; style-src '" + cspHash(style) + "'; " +
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return waitPageDoc{
		// no-cache: a new release's page replaces the old one at once.
		file:   newStaticFile("text/html; charset=utf-8", "public, no-cache", []byte(page)),
		policy: policy,
	}
}

// cspHash is a Content-Security-Policy source naming an inline element by
// the hash of its text.
func cspHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
