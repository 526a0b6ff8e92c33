package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports a pgx pool's statistics.
type PoolCollector struct {
	pool                                      *pgxpool.Pool
	conns, maxConns, acquires, waits, waitSec *prometheus.Desc
}

// NewPoolCollector reads pool's statistics at scrape time.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("evently_db_pool_"+name, help, labels, nil)
	}
	return &PoolCollector{
		pool:     pool,
		conns:    d("connections", "Connections in the Postgres pool by state.", "state"),
		maxConns: d("max_connections", "The Postgres pool's size limit."),
		acquires: d("acquires_total", "Connections acquired from the pool."),
		waits:    d("empty_acquires_total", "Acquires that had to wait for a connection."),
		waitSec:  d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.maxConns, c.acquires, c.waits, c.waitSec} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.maxConns, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSec, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
