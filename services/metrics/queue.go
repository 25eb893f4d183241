package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprise/reprise/provider"
)

// queueDepthCollector asks the provider for the depth of each configured
// queue on every scrape. A depth that cannot be read (a degraded cluster, a
// slow server) is not dropped: the last value read is reported again, and
// reprise_queue_depth_age_seconds says how old it is, so a panel or an alert
// keeps a value exactly when the cluster is in trouble.
type queueDepthCollector struct {
	p       provider.Provider
	queues  []string
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	depth   *prometheus.Desc
	age     *prometheus.Desc

	mu   sync.Mutex
	last map[string]depthReading
}

// depthReading is the last depth read of a queue and when.
type depthReading struct {
	depth int
	at    time.Time
}

func newQueueDepthCollector(p provider.Provider, queues []string, timeout time.Duration, log *slog.Logger, now func() time.Time) *queueDepthCollector {
	return &queueDepthCollector{
		p:       p,
		queues:  append([]string(nil), queues...),
		timeout: timeout,
		log:     log,
		now:     now,
		depth: prometheus.NewDesc(nameQueueDepth,
			"Messages stored in a queue (visible, delayed and locked), read from the provider on scrape; the last value read when a read fails (see reprise_queue_depth_age_seconds).",
			[]string{"queue"}, nil),
		age: prometheus.NewDesc(nameQueueDepthAge,
			"Age of the reprise_queue_depth value: 0 when read by this scrape, else the time since the last successful read.",
			[]string{"queue"}, nil),
		last: map[string]depthReading{},
	}
}

// Describe implements prometheus.Collector.
func (c *queueDepthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
}

// Collect implements prometheus.Collector. The calls share one deadline; a
// queue whose depth is not read in time reports its last value with its
// age, and is left out only if it was never read.
func (c *queueDepthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// One scrape at a time: concurrent scrapes would race on c.last and
	// double the load on the provider.
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.queues {
		n, err := c.p.QueueDepth(ctx, q)
		now := c.now()
		if err == nil {
			c.last[q] = depthReading{depth: n, at: now}
		} else {
			c.log.Warn("metrics: read queue depth", "queue", q, "err", err)
		}
		r, ok := c.last[q]
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(r.depth), q)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, max(now.Sub(r.at), 0).Seconds(), q)
	}
}
