package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Families of the shard leases (orchestrators sharing shards by leases).
const (
	nameShardAcquisitions   = "reprise_shard_acquisitions_total"
	nameShardCatchUp        = "reprise_shard_catch_up_seconds"
	nameShardReleases       = "reprise_shard_releases_total"
	nameLeaseRenewalFailure = "reprise_lease_renewal_failures_total"
	nameClusterMembers      = "reprise_cluster_members"
)

func leaseNames() []string {
	return []string{nameShardAcquisitions, nameShardCatchUp, nameShardReleases, nameLeaseRenewalFailure, nameClusterMembers}
}

// Leases counts what an orchestrator does with its shard leases. It
// implements the cluster package's Observer; get it from [Metrics.Leases].
type Leases struct {
	acquisitions    prometheus.Counter
	catchUp         prometheus.Histogram
	releases        *prometheus.CounterVec
	renewalFailures *prometheus.CounterVec
	members         prometheus.Gauge
}

// Leases registers the lease families and returns their observer. Call it
// at most once.
func (m *Metrics) Leases() *Leases {
	l := &Leases{
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{Name: nameShardAcquisitions,
			Help: "Shards this process took (lease acquired, shard caught up and served)."}),
		catchUp: prometheus.NewHistogram(histogramOpts(nameShardCatchUp,
			"Time from holding a shard's lease to serving the shard: replaying its log above the store and the dispatch mark.",
			waitBuckets)),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameShardReleases,
			Help: "Shards this process stopped serving, by reason: handed_over (a graceful stop or a rebalance) or lost (the lease renewal was refused or its deadline passed)."},
			[]string{"reason"}),
		renewalFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: nameLeaseRenewalFailure,
			Help: "Failed lease renewals, by result: refused (the lease is lost) or unanswered (kept until its local deadline)."},
			[]string{"result"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: nameClusterMembers,
			Help: "Live orchestrators sharing the shards, as this process sees them."}),
	}
	for _, r := range []string{"handed_over", "lost"} {
		l.releases.WithLabelValues(r)
	}
	for _, r := range []string{"refused", "unanswered"} {
		l.renewalFailures.WithLabelValues(r)
	}
	m.reg.MustRegister(l.acquisitions, l.catchUp, l.releases, l.renewalFailures, l.members)
	return l
}

// ShardAcquired counts a shard taken and its catch-up time.
func (l *Leases) ShardAcquired(_ int, catchUp time.Duration) {
	l.acquisitions.Inc()
	l.catchUp.Observe(catchUp.Seconds())
}

// ShardReleased counts a shard no longer served.
func (l *Leases) ShardReleased(_ int, lost bool) {
	reason := "handed_over"
	if lost {
		reason = "lost"
	}
	l.releases.WithLabelValues(reason).Inc()
}

// LeaseRenewalFailed counts a failed renewal.
func (l *Leases) LeaseRenewalFailed(_ int, refused bool) {
	result := "unanswered"
	if refused {
		result = "refused"
	}
	l.renewalFailures.WithLabelValues(result).Inc()
}

// MembersChanged sets the member count.
func (l *Leases) MembersChanged(live int) { l.members.Set(float64(live)) }
