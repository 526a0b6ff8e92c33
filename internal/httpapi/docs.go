package httpapi

import (
	"embed"
	"net/http"
)

// docsUI is the API reference page and its renderer, Redoc's standalone
// bundle, vendored from the npm registry (docsui/redoc.version records
// its version and checksum). Everything the page needs comes from this
// server: it works offline and loads nothing from another host.
//
//go:embed docsui/index.html docsui/redoc.standalone.js
var docsUI embed.FS

// docsPolicy keeps the reference page to this server's own resources.
// Redoc draws its styles inline and runs its search index in a blob:
// worker.
const docsPolicy = "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; " +
	"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// docsFiles are the fixed documents the server answers with.
type docsFiles struct {
	spec, page, script staticFile
}

func newDocsFiles(spec []byte) docsFiles {
	return docsFiles{
		spec:   newStaticFile("application/yaml; charset=utf-8", "public, max-age=300", spec),
		page:   newStaticFile("text/html; charset=utf-8", "public, max-age=300", mustRead(docsUI, "docsui/index.html")),
		script: newStaticFile("text/javascript; charset=utf-8", "public, max-age=86400", mustRead(docsUI, "docsui/redoc.standalone.js")),
	}
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) { s.docsFiles.spec.serve(w, r) }

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", docsPolicy)
	s.docsFiles.page.serve(w, r)
}

func (s *Server) docsScript(w http.ResponseWriter, r *http.Request) { s.docsFiles.script.serve(w, r) }

// mustRead reads an embedded file, which the build guarantees is there.
func mustRead(fs embed.FS, name string) []byte {
	b, err := fs.ReadFile(name)
	if err != nil {
		panic("embedded file missing: " + name)
	}
	return b
}
