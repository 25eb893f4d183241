package metrics

import (
	"strconv"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// pebbleMetric is one reprise_pebble_* family: its descriptor and how to
// read its value from a Pebble metrics snapshot.
type pebbleMetric struct {
	name  string
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*cpebble.Metrics) float64
}

// pebbleLevels is the number of LSM levels Pebble reports (L0–L6); the level
// label takes these values only.
const pebbleLevels = len(cpebble.Metrics{}.Levels)

// pebbleCollector reads Pebble's metrics on every scrape.
type pebbleCollector struct {
	source      func() *cpebble.Metrics
	open        *prometheus.Desc
	scalars     []pebbleMetric
	tables      *prometheus.Desc
	tableBytes  *prometheus.Desc
	levelLabels [pebbleLevels]string
}

const (
	namePebbleOpen       = "reprise_pebble_open"
	namePebbleTables     = "reprise_pebble_sstables"
	namePebbleTableBytes = "reprise_pebble_sstable_bytes"
)

// pebbleScalars lists the unlabelled Pebble families.
func pebbleScalars() []pebbleMetric {
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	def := func(name, help string, kind prometheus.ValueType, value func(*cpebble.Metrics) float64) pebbleMetric {
		return pebbleMetric{name: name, desc: prometheus.NewDesc(name, help, nil, nil), kind: kind, value: value}
	}
	return []pebbleMetric{
		def("reprise_pebble_disk_usage_bytes", "Bytes of disk used by the Pebble store (sstables, WAL, manifests, blob files).", g,
			func(m *cpebble.Metrics) float64 { return float64(m.DiskSpaceUsage()) }),
		def("reprise_pebble_read_amplification", "Pebble read amplification: sublevels in L0 plus non-empty lower levels.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.ReadAmp()) }),
		def("reprise_pebble_memtable_bytes", "Bytes allocated by Pebble memtables and large batches.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.MemTable.Size) }),
		def("reprise_pebble_memtables", "Number of Pebble memtables.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.MemTable.Count) }),
		def("reprise_pebble_compactions_total", "Pebble compactions since the store was opened.", c,
			func(m *cpebble.Metrics) float64 { return float64(m.Compact.Count) }),
		def("reprise_pebble_compactions_in_progress", "Pebble compactions running now.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.Compact.NumInProgress) }),
		def("reprise_pebble_compaction_debt_bytes", "Estimated bytes Pebble must compact to reach a stable LSM shape.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.Compact.EstimatedDebt) }),
		def("reprise_pebble_flushes_total", "Pebble memtable flushes since the store was opened.", c,
			func(m *cpebble.Metrics) float64 { return float64(m.Flush.Count) }),
		def("reprise_pebble_wal_bytes_written_total", "Bytes written to Pebble's write-ahead log since the store was opened.", c,
			func(m *cpebble.Metrics) float64 { return float64(m.WAL.BytesWritten) }),
		def("reprise_pebble_block_cache_bytes", "Bytes in use by Pebble's block cache.", g,
			func(m *cpebble.Metrics) float64 { return float64(m.BlockCache.Size) }),
		def("reprise_pebble_block_cache_hits_total", "Pebble block cache hits.", c,
			func(m *cpebble.Metrics) float64 { return float64(m.BlockCache.Hits) }),
		def("reprise_pebble_block_cache_misses_total", "Pebble block cache misses.", c,
			func(m *cpebble.Metrics) float64 { return float64(m.BlockCache.Misses) }),
	}
}

// pebbleNames lists every reprise_pebble_* family.
func pebbleNames() []string {
	names := []string{namePebbleOpen, namePebbleTables, namePebbleTableBytes}
	for _, s := range pebbleScalars() {
		names = append(names, s.name)
	}
	return names
}

func newPebbleCollector(source func() *cpebble.Metrics) *pebbleCollector {
	c := &pebbleCollector{
		source:  source,
		open:    prometheus.NewDesc(namePebbleOpen, "1 while the Pebble store is open, else 0.", nil, nil),
		scalars: pebbleScalars(),
		tables: prometheus.NewDesc(namePebbleTables, "Pebble sstables per LSM level (0-6).",
			[]string{"level"}, nil),
		tableBytes: prometheus.NewDesc(namePebbleTableBytes, "Bytes of Pebble sstables per LSM level (0-6).",
			[]string{"level"}, nil),
	}
	for i := range c.levelLabels {
		c.levelLabels[i] = strconv.Itoa(i)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	for _, s := range c.scalars {
		ch <- s.desc
	}
	ch <- c.tables
	ch <- c.tableBytes
}

// Collect implements prometheus.Collector. A closed store reports only
// reprise_pebble_open 0.
func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.source()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, boolValue(m != nil))
	if m == nil {
		return
	}
	for _, s := range c.scalars {
		ch <- prometheus.MustNewConstMetric(s.desc, s.kind, s.value(m))
	}
	for i := range m.Levels {
		l := &m.Levels[i]
		ch <- prometheus.MustNewConstMetric(c.tables, prometheus.GaugeValue, float64(l.TablesCount), c.levelLabels[i])
		ch <- prometheus.MustNewConstMetric(c.tableBytes, prometheus.GaugeValue, float64(l.TablesSize), c.levelLabels[i])
	}
}
