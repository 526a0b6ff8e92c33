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
	s.serveEventPage(w, r, s.waitPageDoc)
}

func newWaitPage(storefrontURL string) pageDoc {
	return newPageDoc(
		string(mustRead(waitPageFiles, "waitpage/index.html")),
		string(mustRead(waitPageFiles, "waitpage/wait.css")),
		string(mustRead(waitPageFiles, "waitpage/wait.js")),
		"{{STOREFRONT}}", html.EscapeString(storefrontURL),
	)
}

// pageDoc is a built page and the Content-Security-Policy that admits its
// inline style and script (by their hashes) and nothing else.
type pageDoc struct {
	file   staticFile
	policy string
}

// newPageDoc inlines style and script into page (at {{STYLE}} and
// {{SCRIPT}}), with vars the further placeholder–value pairs, in one pass.
func newPageDoc(page, style, script string, vars ...string) pageDoc {
	page = strings.NewReplacer(append([]string{"{{STYLE}}", style, "{{SCRIPT}}", script}, vars...)...).Replace(page)
	policy := "default-src 'none'; script-src '" + cspHash(script) + "'; style-src '" + cspHash(style) + "'; " +
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return pageDoc{
		// no-cache: a new release's page replaces the old one at once.
		file:   newStaticFile("text/html; charset=utf-8", "public, no-cache", []byte(page)),
		policy: policy,
	}
}

// serveEventPage answers GET of an event's page (/…/{event_id}) with
// doc, the same for every event: an id that is not a UUID is a 404
// problem.
func (s *Server) serveEventPage(w http.ResponseWriter, r *http.Request, doc pageDoc) {
	if _, err := uuidParam(r, "event_id", "event"); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc.serve(w, r)
}

func (d pageDoc) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", d.policy)
	w.Header().Set("Referrer-Policy", "no-referrer")
	d.file.serve(w, r)
}

// cspHash is a Content-Security-Policy source naming an inline element by
// the hash of its text.
func cspHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
