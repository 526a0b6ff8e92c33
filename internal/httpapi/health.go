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
// /readyz answer rather than hang.
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

// BeginShutdown makes /readyz answer 503 from now on, so that load balancers
// stop sending this instance new requests while it drains.
func (s *Server) BeginShutdown() { s.shuttingDown.Store(true) }

// readyz pings every dependency in parallel and reports each one's state.
// It answers 503 only when this instance cannot serve bookings: a required
// dependency (Postgres) is down, or the instance is shutting down. An
// optional one (Redis) down is 200 with status "degraded".
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	resp := readyResponse{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		required []string
		optional []string
	)
	for _, c := range s.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			state := "up"
			err := c.Ping(ctx)
			if err != nil {
				state = "down"
				s.logger.WarnContext(r.Context(), "readiness check failed", "dependency", c.Name, "err", err)
			}
			mu.Lock()
			defer mu.Unlock()
			resp.Checks[c.Name] = state
			switch {
			case err == nil:
			case c.Optional:
				optional = append(optional, c.Name)
			default:
				required = append(required, c.Name)
			}
		})
	}
	wg.Wait()
	slices.Sort(required)
	slices.Sort(optional)
	switch {
	case s.shuttingDown.Load():
		writeError(w, r, s.logger, apperr.New(apperr.Unavailable, "Not ready: shutting down.").With("checks", resp.Checks))
		return
	case len(required) > 0:
		writeError(w, r, s.logger, apperr.New(apperr.Unavailable, "Not ready: %s down.", strings.Join(required, ", ")).
			With("checks", resp.Checks))
		return
	case len(optional) > 0:
		resp.Status = "degraded"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}
