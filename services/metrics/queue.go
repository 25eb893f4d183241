package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprise/reprise/provider"
)

// queueDepthCollector asks the provider for the depth of each configured
// queue on every scrape.
type queueDepthCollector struct {
	p       provider.Provider
	queues  []string
	timeout time.Duration
	log     *slog.Logger
	desc    *prometheus.Desc
}

func newQueueDepthCollector(p provider.Provider, queues []string, timeout time.Duration, log *slog.Logger) *queueDepthCollector {
	return &queueDepthCollector{
		p:       p,
		queues:  append([]string(nil), queues...),
		timeout: timeout,
		log:     log,
		desc: prometheus.NewDesc(nameQueueDepth,
			"Messages stored in a queue (visible, delayed and locked), read from the provider on scrape.",
			[]string{"queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueDepthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. The calls share one deadline; a
// queue whose depth is not read in time is left out of this scrape (a gap
// in the series) rather than reported as a wrong value.
func (c *queueDepthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, q := range c.queues {
		n, err := c.p.QueueDepth(ctx, q)
		if err != nil {
			c.log.Warn("metrics: read queue depth", "queue", q, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), q)
	}
}
