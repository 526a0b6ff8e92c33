package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evently/evently/internal/apperr"
	"github.com/evently/evently/internal/version"
)

// checkTimeout bounds each readiness check, so that a hung dependency makes
// /readyz answer 503 rather than hang.
const checkTimeout = 2 * time.Second

type healthResponse struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	v := version.Get()
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: v.Version, Revision: v.Revision})
}

// readyz pings every dependency in parallel and reports each one's state.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	resp := readyResponse{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range s.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			state := "up"
			if err := c.Ping(ctx); err != nil {
				state = "down"
				s.logger.WarnContext(r.Context(), "readiness check failed", "dependency", c.Name, "err", err)
			}
			mu.Lock()
			resp.Checks[c.Name] = state
			mu.Unlock()
		})
	}
	wg.Wait()
	var down []string
	for name, state := range resp.Checks {
		if state != "up" {
			down = append(down, name)
		}
	}
	if len(down) > 0 {
		slices.Sort(down)
		writeError(w, r, s.logger, apperr.New(apperr.Unavailable, "Not ready: %s down.", strings.Join(down, ", ")).
			With("checks", resp.Checks))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}
