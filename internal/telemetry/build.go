package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evently/evently/internal/version"
)

// NewBuildInfo returns evently_build_info: always 1, its labels name the
// build, so that a query can join any series with the version that made
// it (and a dashboard can show when a release rolled out).
func NewBuildInfo(v version.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "evently_build_info",
		Help: "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{
			"version": v.Version, "revision": v.Revision, "go_version": v.GoVersion,
		},
	})
	g.Set(1)
	return g
}
