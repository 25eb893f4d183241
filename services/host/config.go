package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/cluster"
)

// Role selects what a process runs.
type Role int

const (
	// Orchestrator runs orchestration turns for its shards and the subject
	// API; in embedded mode (no NATS URL) it also runs activities.
	Orchestrator Role = iota + 1
	// Worker runs activities only; it keeps no state, so any number of
	// workers compete for the same queue.
	Worker
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case Orchestrator:
		return "orchestrator"
	case Worker:
		return "worker"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Activities says whether an orchestrator also runs activities.
type Activities string

// Activities values.
const (
	// ActivitiesAuto runs them in embedded mode only.
	ActivitiesAuto  Activities = "auto"
	ActivitiesOn    Activities = "true"
	ActivitiesOff   Activities = "false"
	activitiesUnset Activities = ""
)

// Config is the configuration of a service process. Zero fields take the
// defaults listed by [Settings]; each field has a flag and an
// environment variable, the flag winning.
type Config struct {
	// NATSURL is the NATS server URL (comma-separated for a cluster). Empty
	// starts an embedded server (orchestrator only).
	NATSURL string
	// NATSCreds is a NATS credentials (.creds) file.
	NATSCreds string
	// NATSNKey is a file holding an NKey seed (SU...): the process
	// authenticates as the NKey user of that seed (see deploy/k8s/nats).
	NATSNKey string
	// TLSCA, TLSCert, TLSKey configure TLS to NATS: a CA bundle to verify
	// the server, and a client certificate and key.
	TLSCA, TLSCert, TLSKey string
	// NATSListen is the embedded server's client address (default
	// 127.0.0.1:4222, what the CLI connects to by default).
	NATSListen string
	// NATSSync makes the embedded server fsync every write, so acknowledged
	// work survives power loss (default false: it survives a process crash).
	NATSSync bool
	// FSync makes what the orchestrator acknowledges survive a power loss
	// by group commit: before acknowledging, the provider waits for a
	// syncfs(2) of the data directory's filesystem that started after the
	// write, shared by every caller waiting meanwhile (internal/groupsync).
	// Embedded NATS only: with an external NATS its servers' replicas or
	// sync settings decide durability.
	FSync bool
	// DataDir holds the embedded server's store and the Pebble store
	// (default ./data).
	DataDir string
	// Prefix names every subject and stream (default "reprise").
	Prefix string
	// Shards is the number of shards instances hash to; fixed for the life
	// of a deployment. 0: the deployment's, as its log stream records it
	// (DefaultShards for a new deployment; 16 for one created before the
	// count was recorded).
	Shards int
	// OwnedShards pins the shards this orchestrator runs, e.g. "0-7" or
	// "0,2,4". When empty and Orchestrators is 0 (the default), the
	// orchestrators on one NATS share the shards by leases (package
	// services/cluster): automatic, live, and moved when an orchestrator
	// stops or dies. With Orchestrators set they follow from it and
	// Ordinal: the shards s with s % Orchestrators == Ordinal.
	OwnedShards []int
	// Orchestrators, when not 0, pins the orchestrators sharing the
	// shards to that number, each with its own Ordinal (no leases).
	Orchestrators int
	// LeaseTTL is how long a shard lease outlives its last renewal
	// (default cluster.DefaultLeaseTTL); the same on every orchestrator.
	LeaseTTL time.Duration
	// Ordinal is this orchestrator's index among Orchestrators, from 0
	// (default 0). [OrdinalAuto] takes it from the host name's trailing
	// "-K", as in a StatefulSet pod name (reprise-orchestrator-2 is 2).
	Ordinal int
	// Replicas of the JetStream streams (default 1; 3 on a 3-node cluster).
	Replicas int
	// CacheSize bounds the sticky cache of live instances (default 10,000;
	// negative disables it).
	CacheSize int
	// Concurrency is the number of orchestration turns run at once
	// (default 32: a turn mostly waits on JetStream round trips, and
	// bench/ measured 32 well above 8 on two cores).
	Concurrency int
	// ActivityConcurrency is the number of activities run at once (default
	// 64); a returned activity's completion does not hold a slot
	// (worker.Options.ActivityConcurrency).
	ActivityConcurrency int
	// Activities says whether an orchestrator runs activities too (default
	// auto: in embedded mode only).
	Activities Activities
	// MetricsAddr serves /metrics, /healthz and /readyz (default :9090;
	// "off" disables it).
	MetricsAddr string
	// UIAddr serves the web UI (package ui) of an orchestrator; empty or
	// "off" disables it. The command line's default ([Config.BindFlags])
	// is 127.0.0.1:8233; a Config built in Go has it off unless set. A
	// worker serves no UI.
	UIAddr string
	// UIReadOnly hides the UI's actions and refuses them.
	UIReadOnly bool
	// MaxPayloadBytes limits an input or event payload accepted by the API
	// (default 1 MiB; at most what the NATS server's max_payload carries,
	// see [NewLimits]).
	MaxPayloadBytes int
	// MaxWaits bounds the wait requests an orchestrator holds at once
	// (default 10,000); MaxWaitsPerClient bounds those of one client
	// (default 1,000). A wait beyond either is answered unavailable.
	MaxWaits          int
	MaxWaitsPerClient int
	// Reuse is the default reuse policy of a start (default reject).
	Reuse api.ReusePolicy
	// Retention is how long a finished instance, and each earlier execution
	// of a continued-as-new one, is kept before it is deleted (default 7
	// days; a start may set its own).
	Retention time.Duration
	// LockTimeout is how long a fetched instance or activity stays locked
	// without renewal; after a crash, its work is redelivered once it
	// expires (default 30s). Every process of a deployment must use the
	// same value.
	LockTimeout time.Duration
	// DrainTimeout bounds the graceful stop: in-flight turns and activities
	// get this long to finish (default 30s).
	DrainTimeout time.Duration
	// SnapshotRecords and SnapshotInterval decide when an orchestrator
	// snapshots an owned shard and trims its log below the snapshot: once
	// the shard's log holds SnapshotRecords records above its latest
	// snapshot (default 50,000; negative: never in the background), or
	// holds any and the latest is older than SnapshotInterval (default
	// 1h). See provider/jetstream, "Snapshots and trimming".
	SnapshotRecords  int
	SnapshotInterval time.Duration
	// StallTimeout is how long one unit of work of a long-running loop (an
	// orchestration turn, an activity's completion, a pass of a provider
	// loop, a lease renewal) may take before /healthz fails and a liveness probe restarts
	// the process (default 2m). Waiting for work is never a stall.
	StallTimeout time.Duration
	// LogLevel is debug, info, warn or error (default info); LogFormat is
	// text or json (default text).
	LogLevel  string
	LogFormat string

	// Logger, when set, is used instead of one built from LogLevel and
	// LogFormat.
	Logger *slog.Logger

	// maxReplyBytes, when set (by tests), bounds reply pages below the
	// NATS max payload.
	maxReplyBytes int

	// submitMaxDeliveries, when set (by tests), bounds the deliveries of a
	// submission failing with an internal error (apiserver's default
	// otherwise).
	submitMaxDeliveries int
	// submitUnavailableMaxAge and apiConcurrency, when set (by tests),
	// replace the apiserver's defaults.
	submitUnavailableMaxAge time.Duration
	apiConcurrency          int
	// beforeRecovery, when set (by tests), is called with the health
	// address once /healthz and /readyz are served and before the provider
	// recovers its shards; the start waits for it to return.
	beforeRecovery func(healthAddr string)
	// wrapProvider, when set (by tests), wraps the provider the runtime
	// and the API use (after the metrics).
	wrapProvider func(provider.Provider) provider.Provider
}

// Defaults. DefaultShards is the shard count of a new deployment (an
// existing one keeps the count its log stream records): fewer shards cost
// the NATS server less per message (one consumer of the work stream per
// shard), and 8 still spread over up to 8 orchestrators.
const (
	DefaultDataDir      = "./data"
	DefaultNATSListen   = "127.0.0.1:4222"
	DefaultMetricsAddr  = ":9090"
	DefaultShards       = 8
	DefaultConcurrency  = 32
	DefaultDrainTimeout = 30 * time.Second
	DefaultStallTimeout = 2 * time.Minute
	DefaultLockTimeout  = 30 * time.Second
)

// withDefaults fills in the defaults.
func (c Config) withDefaults() Config {
	if c.NATSListen == "" {
		c.NATSListen = DefaultNATSListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Prefix == "" {
		c.Prefix = api.DefaultPrefix
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = cluster.DefaultLeaseTTL
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ActivityConcurrency == 0 {
		c.ActivityConcurrency = 64
	}
	if c.Activities == activitiesUnset {
		c.Activities = ActivitiesAuto
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = DefaultMetricsAddr
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = api.DefaultMaxPayloadBytes
	}
	if c.Reuse == "" {
		c.Reuse = api.ReuseReject
	}
	if c.Retention == 0 {
		c.Retention = runtime.DefaultRetention
	}
	if c.MaxWaits == 0 {
		c.MaxWaits = DefaultMaxWaits
	}
	if c.MaxWaitsPerClient == 0 {
		c.MaxWaitsPerClient = DefaultMaxWaitsPerClient
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	return c
}

// validate checks c (with defaults applied) for role.
func (c Config) validate(role Role) error {
	var errs []error
	if role != Orchestrator && role != Worker {
		errs = append(errs, fmt.Errorf("unknown role %v", role))
	}
	if role == Worker && c.NATSURL == "" {
		errs = append(errs, errors.New("a worker needs a NATS URL (-nats-url or REPRISE_NATS_URL): the embedded server runs in the orchestrator"))
	}
	if err := api.ValidatePrefix(c.Prefix); err != nil {
		errs = append(errs, err)
	}
	if c.Shards != 0 {
		if err := c.validateShards(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease TTL is %s, want at least 1s", c.LeaseTTL))
	}
	if c.Orchestrators < 0 {
		errs = append(errs, fmt.Errorf("orchestrators is %d, want auto or at least 1", c.Orchestrators))
	} else if c.Ordinal != OrdinalAuto && c.Ordinal < 0 {
		errs = append(errs, fmt.Errorf("ordinal is %d, want auto or a whole number from 0", c.Ordinal))
	} else if c.Orchestrators > 0 && c.Ordinal != OrdinalAuto && c.Ordinal >= c.Orchestrators {
		errs = append(errs, fmt.Errorf("ordinal is %d, want 0 to %d (orchestrators is %d)", c.Ordinal, c.Orchestrators-1, c.Orchestrators))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas is %d, want 1 to 5", c.Replicas))
	}
	if c.Concurrency < 1 || c.ActivityConcurrency < 1 {
		errs = append(errs, errors.New("concurrency and activity concurrency must be at least 1"))
	}
	switch c.Activities {
	case ActivitiesAuto, ActivitiesOn, ActivitiesOff:
	default:
		errs = append(errs, fmt.Errorf("activities is %q, want auto, true or false", c.Activities))
	}
	if c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics address %q: %w", c.MetricsAddr, err))
		}
	}
	if c.uiEnabled() {
		if _, _, err := net.SplitHostPort(c.UIAddr); err != nil {
			errs = append(errs, fmt.Errorf("UI address %q: %w", c.UIAddr, err))
		}
	}
	if c.FSync && c.NATSURL != "" {
		errs = append(errs, errors.New("-fsync works with the embedded NATS server only (no -nats-url): with an external NATS, durability is its servers' business (R3 streams, -replicas 3, or their sync settings)"))
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("embedded NATS address %q: %w", c.NATSListen, err))
		}
	}
	if c.MaxPayloadBytes < 1 || c.MaxPayloadBytes > maxPayloadLimit {
		errs = append(errs, fmt.Errorf("max payload is %d bytes, want 1 to %d (and at most what the NATS server's max_payload carries: %d with the embedded server)",
			c.MaxPayloadBytes, maxPayloadLimit, MaxAPIPayload(EmbeddedMaxPayload)))
	}
	if c.MaxWaits < 1 || c.MaxWaitsPerClient < 1 || c.MaxWaitsPerClient > c.MaxWaits {
		errs = append(errs, fmt.Errorf("max waits is %d and max waits per client %d: want at least 1, per client at most the total", c.MaxWaits, c.MaxWaitsPerClient))
	}
	if !c.Reuse.Valid() {
		errs = append(errs, fmt.Errorf("reuse policy %q, want %q or %q", c.Reuse, api.ReuseReject, api.ReuseReplaceFinished))
	}
	if c.Retention < api.MinRetention || c.Retention > api.MaxRetention {
		errs = append(errs, fmt.Errorf("retention is %s, want %s to %s", c.Retention, api.MinRetention, api.MaxRetention))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, errors.New("drain timeout is negative"))
	}
	if c.SnapshotInterval < 0 {
		errs = append(errs, errors.New("snapshot interval is negative"))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, errors.New("stall timeout is negative"))
	}
	if c.LockTimeout < time.Second {
		errs = append(errs, fmt.Errorf("lock timeout is %s, want at least 1s", c.LockTimeout))
	}
	if c.NATSCreds != "" && c.NATSNKey != "" {
		errs = append(errs, errors.New("-nats-creds and -nats-nkey are two ways to authenticate: give one"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("a TLS client certificate needs both a certificate and a key file"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q, want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// maxPayloadLimit is the static bound of -max-payload: NATS carries no
// message above 64 MiB. The bound that applies is checked against the
// server's max_payload once connected (NewLimits).
var maxPayloadLimit = MaxAPIPayload(64 << 20)

// Wait pool defaults.
const (
	DefaultMaxWaits          = 10_000
	DefaultMaxWaitsPerClient = 1_000
)

// uiEnabled reports whether an orchestrator serves the web UI.
func (c Config) uiEnabled() bool { return c.UIAddr != "" && c.UIAddr != "off" }

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q, want debug, info, warn or error", s)
	}
	return l, nil
}

// validateShards checks the shard count and what depends on it: the owned
// shards and the orchestrator count.
func (c Config) validateShards() error {
	var errs []error
	if c.Shards < 1 || c.Shards > 4096 {
		errs = append(errs, fmt.Errorf("shards is %d, want 1 to 4096", c.Shards))
	}
	for _, s := range c.OwnedShards {
		if s < 0 || s >= c.Shards {
			errs = append(errs, fmt.Errorf("owned shard %d is outside 0..%d", s, c.Shards-1))
		}
	}
	if c.Orchestrators > c.Shards {
		errs = append(errs, fmt.Errorf("orchestrators is %d, want auto or 1 to the shard count %d (each orchestrator owns at least one shard)", c.Orchestrators, c.Shards))
	}
	return errors.Join(errs...)
}

// leased reports whether the orchestrator's shards are shared by leases
// (nothing pins them).
func (c Config) leased() bool { return len(c.OwnedShards) == 0 && c.Orchestrators == 0 }

// OrdinalAuto is the [Config.Ordinal] that is read from the host name.
const OrdinalAuto = -1

// ownedShards resolves the shards an orchestrator runs: the configured
// list, else its ordinal's share, where hostname supplies the host name for
// [OrdinalAuto]. Nil means all.
func (c Config) ownedShards(hostname func() (string, error)) ([]int, error) {
	if len(c.OwnedShards) > 0 {
		return c.OwnedShards, nil
	}
	if c.leased() {
		return nil, nil
	}
	ordinal := c.Ordinal
	if ordinal == OrdinalAuto {
		h, err := hostname()
		if err != nil {
			return nil, fmt.Errorf("ordinal auto: host name: %w", err)
		}
		if ordinal, err = OrdinalFromHostname(h); err != nil {
			return nil, err
		}
		if ordinal >= c.Orchestrators {
			return nil, fmt.Errorf("ordinal %d (from host name %q) is not below the orchestrator count %d", ordinal, h, c.Orchestrators)
		}
	}
	if c.Orchestrators <= 1 {
		return nil, nil
	}
	return OrdinalShards(c.Shards, c.Orchestrators, ordinal), nil
}

// OrdinalShards returns the shards the orchestrator with ordinal owns when
// orchestrators share shards: every s with s % orchestrators == ordinal.
// Each shard has exactly one owner among ordinals 0..orchestrators-1.
func OrdinalShards(shards, orchestrators, ordinal int) []int {
	var out []int
	for s := ordinal; s < shards && ordinal >= 0 && orchestrators > 0; s += orchestrators {
		out = append(out, s)
	}
	return out
}

// OrdinalFromHostname returns K from a host name ending in "-K", as
// StatefulSet pods are named (reprise-orchestrator-2 is 2). A domain after
// the first dot is ignored.
func OrdinalFromHostname(hostname string) (int, error) {
	name, _, _ := strings.Cut(hostname, ".")
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0, fmt.Errorf("host name %q does not end in -<ordinal>, as a StatefulSet pod's does: set the ordinal explicitly", hostname)
	}
	k, err := strconv.Atoi(name[i+1:])
	if err != nil || k < 0 || name[i+1:] != strconv.Itoa(k) {
		return 0, fmt.Errorf("host name %q does not end in -<ordinal>, as a StatefulSet pod's does: set the ordinal explicitly", hostname)
	}
	return k, nil
}

// ParseShards parses a shard list such as "0-3,8,10-11".
func ParseShards(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("shard list %q: %q is not a shard number or range", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("shard list %q: %q is not a range low-high", s, part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
