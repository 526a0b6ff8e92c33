package httpapi

import (
	"embed"
	"net/http"
)

// livePageFiles are the organiser's live on-sale view: one HTML document
// whose style and script are inlined from these files when the server
// starts.
//
//go:embed livepage/index.html livepage/live.css livepage/live.js
var livePageFiles embed.FS

// livePage is GET /admin/live/{event_id}: the page an organiser watches an
// on-sale on. Like the waiting-room page it is one document for every
// event, holding no data: the script signs the admin in and reads the
// funnel stream, which is where the admin check happens.
func (s *Server) livePage(w http.ResponseWriter, r *http.Request) {
	s.serveEventPage(w, r, s.livePageDoc)
}

func newLivePage() pageDoc {
	return newPageDoc(
		string(mustRead(livePageFiles, "livepage/index.html")),
		string(mustRead(livePageFiles, "livepage/live.css")),
		string(mustRead(livePageFiles, "livepage/live.js")),
	)
}
