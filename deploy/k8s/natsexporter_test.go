package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// exporterArgs are the prometheus-nats-exporter arguments the table below
// is valid for: /varz as gnatsd_varz_<field>, /jsz with accounts, streams
// and consumers as jetstream_*, and no -prefix (which renames both).
var exporterArgs = []string{"-varz", "-jsz=all"}

// Labels of the exporter's JetStream series (its collector/jsz.go): server
// labels on every series, stream labels added on stream and consumer
// series, consumer labels on consumer series.
var (
	jszServerLabels   = []string{"server_id", "server_name", "cluster", "domain", "meta_leader", "is_meta_leader"}
	jszStreamLabels   = append(slices.Clone(jszServerLabels), "account", "account_id", "stream_name", "stream_leader", "is_stream_leader")
	jszConsumerLabels = append(slices.Clone(jszStreamLabels), "consumer_name", "consumer_leader", "is_consumer_leader", "consumer_desc", "consumer_created")
	// varzLabels: a /varz series has the server's id only.
	varzLabels = []string{"server_id"}
)

// jszMetric is one JetStream series of the exporter: the level it is
// reported at and the field of the server's /jsz response it carries (as
// the exporter reads it; the compiler checks that the pinned nats-server
// still has the field).
type jszMetric struct {
	level    string // "server", "stream" or "consumer"
	server   func(*server.JSInfo) float64
	stream   func(*server.StreamDetail) float64
	consumer func(*server.ConsumerInfo) float64
}

// jszMetrics are the JetStream series prometheus-nats-exporter -jsz=all
// exports (its collector/jsz.go), each with the /jsz field it carries.
var jszMetrics = map[string]jszMetric{
	"jetstream_server_total_streams":       {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Streams) }},
	"jetstream_server_total_consumers":     {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Consumers) }},
	"jetstream_server_total_messages":      {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Messages) }},
	"jetstream_server_total_message_bytes": {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Bytes) }},
	"jetstream_server_max_memory":          {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Config.MaxMemory) }},
	"jetstream_server_max_storage":         {level: "server", server: func(j *server.JSInfo) float64 { return float64(j.Config.MaxStore) }},

	"jetstream_stream_total_messages": {level: "stream", stream: func(s *server.StreamDetail) float64 { return float64(s.State.Msgs) }},
	"jetstream_stream_total_bytes":    {level: "stream", stream: func(s *server.StreamDetail) float64 { return float64(s.State.Bytes) }},
	"jetstream_stream_first_seq":      {level: "stream", stream: func(s *server.StreamDetail) float64 { return float64(s.State.FirstSeq) }},
	"jetstream_stream_last_seq":       {level: "stream", stream: func(s *server.StreamDetail) float64 { return float64(s.State.LastSeq) }},
	"jetstream_stream_consumer_count": {level: "stream", stream: func(s *server.StreamDetail) float64 { return float64(s.State.Consumers) }},

	"jetstream_consumer_delivered_consumer_seq": {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.Delivered.Consumer) }},
	"jetstream_consumer_delivered_stream_seq":   {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.Delivered.Stream) }},
	"jetstream_consumer_num_ack_pending":        {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.NumAckPending) }},
	"jetstream_consumer_num_redelivered":        {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.NumRedelivered) }},
	"jetstream_consumer_num_waiting":            {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.NumWaiting) }},
	"jetstream_consumer_num_pending":            {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.NumPending) }},
	"jetstream_consumer_ack_floor_stream_seq":   {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.AckFloor.Stream) }},
	"jetstream_consumer_ack_floor_consumer_seq": {level: "consumer", consumer: func(c *server.ConsumerInfo) float64 { return float64(c.AckFloor.Consumer) }},
}

// natsExporterLabels returns the labels of an exporter series, or false
// when name is not one (a gnatsd_varz_ series is checked against the
// server's /varz by TestNATSExporterSeries).
func natsExporterLabels(name string) ([]string, bool) {
	if m, ok := jszMetrics[name]; ok {
		switch m.level {
		case "server":
			return jszServerLabels, true
		case "stream":
			return jszStreamLabels, true
		}
		return jszConsumerLabels, true
	}
	if strings.HasPrefix(name, "gnatsd_varz_") {
		return varzLabels, true
	}
	return nil, false
}

// natsExprs returns the dashboard's and the rules' expressions that read
// an exporter series, by where they are.
func natsExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(where, expr string) {
		refs, err := lexPromQL(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, m := range refs.metrics {
			if _, ok := natsExporterLabels(m); ok {
				out[where] = expr
			}
		}
	}
	for _, p := range flatten(loadDashboard(t, loadManifests(t)).Panels) {
		for _, tg := range p.Targets {
			add("panel "+p.Title+" "+tg.RefID, tg.Expr)
		}
	}
	for _, r := range alerts(loadRules(t)) {
		add("alert "+r.Alert, r.Expr)
	}
	return out
}

// TestNATSExporterSeries checks the NATS servers' series the dashboard and
// the rules read against the pinned nats-server, with an orchestrator
// running on it: the sidecar runs with the arguments the table is for;
// every gnatsd_varz_<field> is a numeric field of the server's /varz (as
// the exporter builds them); every jetstream_ series is one of the
// exporter's, read with its labels only; and the server's /jsz, asked as
// the exporter asks it, reports Reprise's streams with their state and the
// activity consumer, so the stream and consumer panels have series. (The
// exporter itself is not in the Go module proxy: its series names and
// labels are transcribed from its source into jszMetrics.)
func TestNATSExporterSeries(t *testing.T) {
	m := loadManifests(t)
	w := m.workload(t, "nats")
	var exporter []string
	for _, c := range w.template.Spec.Containers {
		if strings.Contains(c.Image, "prometheus-nats-exporter") {
			exporter = c.Args
		}
	}
	for _, a := range exporterArgs {
		if !slices.Contains(exporter, a) {
			t.Errorf("exporter sidecar args %q lack %s", exporter, a)
		}
	}
	if slices.ContainsFunc(exporter, func(a string) bool { return strings.HasPrefix(a, "-prefix") }) {
		t.Errorf("exporter sidecar args %q rename the series (-prefix)", exporter)
	}

	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1,
		JetStream: true, StoreDir: t.TempDir(), NoSigs: true, MaxPayload: 8 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := host.Start(ctx, host.Orchestrator, host.Config{
		NATSURL: srv.ClientURL(), DataDir: t.TempDir(), MetricsAddr: "off", Shards: 4,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})

	monitor := "http://" + srv.MonitorAddr().String()
	get := func(path string, out any) {
		t.Helper()
		resp, err := http.Get(monitor + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var varz map[string]any
	get("/varz", &varz)
	var jsz server.JSInfo
	get("/jsz?consumers=true&config=true", &jsz) // what -jsz=all asks

	streams := map[string]*server.StreamDetail{}
	consumers := map[string]*server.ConsumerInfo{}
	for _, a := range jsz.AccountDetails {
		for i := range a.Streams {
			s := &a.Streams[i]
			streams[s.Name] = s
			for _, c := range s.Consumer {
				consumers[c.Name] = c
			}
		}
	}
	for _, s := range []string{"reprise_log", "reprise_work", "reprise_submit", "reprise_deadletter"} {
		if streams[s] == nil {
			t.Errorf("/jsz does not report stream %s (reported: %v)", s, keys(streams))
		}
	}
	for _, c := range []string{"reprise_w_activities", "reprise_q_orchestrator_0"} {
		if consumers[c] == nil {
			t.Errorf("/jsz does not report consumer %s (reported: %v)", c, keys(consumers))
		}
	}
	if jsz.Config.MaxStore <= 0 {
		t.Errorf("/jsz max_storage %d: the storage panel divides by it", jsz.Config.MaxStore)
	}

	exprs := natsExprs(t)
	if len(exprs) < 8 {
		t.Fatalf("%d expressions read the NATS servers' series, want the dashboard's NATS JetStream row and the storage alert", len(exprs))
	}
	used := map[string]bool{}
	for where, expr := range exprs {
		refs, _ := lexPromQL(expr)
		var allowed []string
		for _, name := range refs.metrics {
			labels, ok := natsExporterLabels(name)
			if !ok {
				continue
			}
			used[name] = true
			allowed = append(allowed, labels...)
			if field, isVarz := strings.CutPrefix(name, "gnatsd_varz_"); isVarz {
				if _, number := varz[field].(float64); !number {
					t.Errorf("%s reads %s, but the pinned nats-server's /varz has no numeric %q (%v)", where, name, field, varz[field])
				}
				continue
			}
			if _, ok := jszMetrics[name]; !ok {
				t.Errorf("%s reads %s, which prometheus-nats-exporter does not export", where, name)
			}
		}
		allowed = append(allowed, "job", "instance", "namespace", "pod", "container", "endpoint")
		for _, l := range refs.labels {
			if !slices.Contains(allowed, l) {
				t.Errorf("%s: label %q is not a label of the NATS series it reads", where, l)
			}
		}
	}
	// The dashboard's NATS row shows streams, consumers and storage.
	for _, name := range []string{"jetstream_stream_total_messages", "jetstream_stream_total_bytes", "jetstream_consumer_num_pending",
		"jetstream_consumer_num_ack_pending", "jetstream_server_total_message_bytes", "jetstream_server_max_storage", "gnatsd_varz_connections"} {
		if !used[name] {
			t.Errorf("no panel or rule reads %s", name)
		}
	}
	// The value each used JetStream series would carry for Reprise's
	// streams and consumer, read as the exporter reads it.
	var figures []string
	for name := range used {
		m, ok := jszMetrics[name]
		if !ok {
			continue
		}
		switch m.level {
		case "server":
			figures = append(figures, fmt.Sprintf("%s=%g", name, m.server(&jsz)))
		case "stream":
			if s := streams["reprise_work"]; s != nil {
				figures = append(figures, fmt.Sprintf("%s{stream_name=reprise_work}=%g", name, m.stream(s)))
			}
		case "consumer":
			if c := consumers["reprise_w_activities"]; c != nil {
				figures = append(figures, fmt.Sprintf("%s{consumer_name=reprise_w_activities}=%g", name, m.consumer(c)))
			}
		}
	}
	slices.Sort(figures)
	t.Logf("%d expressions read %d NATS series; from the pinned server: %s", len(exprs), len(used), strings.Join(figures, ", "))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
