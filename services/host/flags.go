package host

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/cluster"
	"github.com/reprise/reprise/ui"
)

// Setting documents one configuration setting: its flag, its environment
// variable, its default and what it does. [Settings] lists them all (the
// README's configuration reference and the deployment manifests are checked
// against it).
type Setting struct {
	Flag    string
	Env     string
	Default string
	Usage   string
	// Roles is "orchestrator", "worker" or "both".
	Roles string
	// Bool flags may be given without a value.
	Bool bool

	set func(c *Config, v string) error
}

// Settings returns every setting in documentation order.
func Settings() []Setting {
	str := func(f func(c *Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = v; return nil }
	}
	num := func(f func(c *Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*f(c) = n
			return nil
		}
	}
	dur := func(f func(c *Config) *time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30s", v)
			}
			*f(c) = d
			return nil
		}
	}
	return []Setting{
		{Flag: "nats-url", Env: "REPRISE_NATS_URL", Default: "", Roles: "both",
			Usage: "NATS server URL(s), comma-separated; empty starts an embedded NATS server (orchestrator only)",
			set:   str(func(c *Config) *string { return &c.NATSURL })},
		{Flag: "nats-creds", Env: "REPRISE_NATS_CREDS", Default: "", Roles: "both",
			Usage: "NATS credentials file (.creds)",
			set:   str(func(c *Config) *string { return &c.NATSCreds })},
		{Flag: "nats-nkey", Env: "REPRISE_NATS_NKEY", Default: "", Roles: "both",
			Usage: "file holding the NKey seed (SU...) of this process's NATS user",
			set:   str(func(c *Config) *string { return &c.NATSNKey })},
		{Flag: "nats-tls-ca", Env: "REPRISE_NATS_TLS_CA", Default: "", Roles: "both",
			Usage: "CA bundle (PEM) to verify the NATS server",
			set:   str(func(c *Config) *string { return &c.TLSCA })},
		{Flag: "nats-tls-cert", Env: "REPRISE_NATS_TLS_CERT", Default: "", Roles: "both",
			Usage: "client certificate (PEM) for NATS",
			set:   str(func(c *Config) *string { return &c.TLSCert })},
		{Flag: "nats-tls-key", Env: "REPRISE_NATS_TLS_KEY", Default: "", Roles: "both",
			Usage: "client key (PEM) for NATS",
			set:   str(func(c *Config) *string { return &c.TLSKey })},
		{Flag: "nats-listen", Env: "REPRISE_NATS_LISTEN", Default: DefaultNATSListen, Roles: "orchestrator",
			Usage: "client address of the embedded NATS server",
			set:   str(func(c *Config) *string { return &c.NATSListen })},
		{Flag: "nats-sync", Env: "REPRISE_NATS_SYNC", Default: "false", Roles: "orchestrator", Bool: true,
			Usage: "embedded NATS server fsyncs every write (survives power loss, slower)",
			set: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("%q is not true or false", v)
				}
				c.NATSSync = b
				return nil
			}},
		{Flag: "fsync", Env: "REPRISE_FSYNC", Default: "false", Roles: "orchestrator", Bool: true,
			Usage: "group commit: acknowledge only what an fsync (syncfs of the data directory) made durable; survives power loss (embedded NATS only)",
			set: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("%q is not true or false", v)
				}
				c.FSync = b
				return nil
			}},
		{Flag: "data-dir", Env: "REPRISE_DATA_DIR", Default: DefaultDataDir, Roles: "orchestrator",
			Usage: "directory of the Pebble store and the embedded NATS server's store",
			set:   str(func(c *Config) *string { return &c.DataDir })},
		{Flag: "prefix", Env: "REPRISE_PREFIX", Default: api.DefaultPrefix, Roles: "both",
			Usage: "prefix of every subject and stream",
			set:   str(func(c *Config) *string { return &c.Prefix })},
		{Flag: "shards", Env: "REPRISE_SHARDS", Default: "auto", Roles: "both",
			Usage: "number of shards instances hash to; fixed for the life of a deployment (same value on every process); auto: the count the deployment's log stream records, " + strconv.Itoa(DefaultShards) + " for a new deployment",
			set: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "auto" {
					c.Shards = 0
					return nil
				}
				return num(func(c *Config) *int { return &c.Shards })(c, v)
			}},
		{Flag: "owned-shards", Env: "REPRISE_OWNED_SHARDS", Default: "all", Roles: "orchestrator",
			Usage: "pin the shards this orchestrator runs, e.g. 0-7 or 0,2,4; all (the default) means shards are shared automatically by leases (or by -orchestrators)",
			set: func(c *Config, v string) error {
				if v == "all" {
					c.OwnedShards = nil
					return nil
				}
				s, err := ParseShards(v)
				c.OwnedShards = s
				return err
			}},
		{Flag: "orchestrators", Env: "REPRISE_ORCHESTRATORS", Default: "auto", Roles: "orchestrator",
			Usage: "auto (the default): the orchestrators on one NATS share the shards by leases, moving them when one starts, stops or dies; a number N pins orchestrator K to the shards s with s % N == K instead (with -ordinal)",
			set: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "auto" {
					c.Orchestrators = 0
					return nil
				}
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 {
					return fmt.Errorf("%q is not auto or a whole number from 1", v)
				}
				c.Orchestrators = n
				return nil
			}},
		{Flag: "lease-ttl", Env: "REPRISE_LEASE_TTL", Default: cluster.DefaultLeaseTTL.String(), Roles: "orchestrator",
			Usage: "how long a shard lease outlives its last renewal: a dead orchestrator's shards move after about this long (same value on every orchestrator)",
			set:   dur(func(c *Config) *time.Duration { return &c.LeaseTTL })},
		{Flag: "ordinal", Env: "REPRISE_ORDINAL", Default: "0", Roles: "orchestrator",
			Usage: "this orchestrator's index K among -orchestrators, from 0; auto takes it from the host name's trailing -K (a StatefulSet pod name)",
			set: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "auto" {
					c.Ordinal = OrdinalAuto
					return nil
				}
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 0 {
					return fmt.Errorf("%q is not auto or a whole number from 0", v)
				}
				c.Ordinal = n
				return nil
			}},
		{Flag: "replicas", Env: "REPRISE_REPLICAS", Default: "1", Roles: "both",
			Usage: "replicas of the JetStream streams (3 on a 3-node cluster)",
			set:   num(func(c *Config) *int { return &c.Replicas })},
		{Flag: "cache-size", Env: "REPRISE_CACHE_SIZE", Default: "10000", Roles: "orchestrator",
			Usage: "live instances kept in the sticky cache (negative disables it)",
			set:   num(func(c *Config) *int { return &c.CacheSize })},
		{Flag: "concurrency", Env: "REPRISE_CONCURRENCY", Default: strconv.Itoa(DefaultConcurrency), Roles: "orchestrator",
			Usage: "orchestration turns run at once",
			set:   num(func(c *Config) *int { return &c.Concurrency })},
		{Flag: "activity-concurrency", Env: "REPRISE_ACTIVITY_CONCURRENCY", Default: "64", Roles: "both",
			Usage: "activities run at once",
			set:   num(func(c *Config) *int { return &c.ActivityConcurrency })},
		{Flag: "activities", Env: "REPRISE_ACTIVITIES", Default: string(ActivitiesAuto), Roles: "orchestrator",
			Usage: "run activities in the orchestrator too: auto (only with the embedded server), true or false",
			set:   func(c *Config, v string) error { c.Activities = Activities(v); return nil }},
		{Flag: "metrics-addr", Env: "REPRISE_METRICS_ADDR", Default: DefaultMetricsAddr, Roles: "both",
			Usage: "address of /metrics, /healthz and /readyz (\"off\" disables)",
			set:   str(func(c *Config) *string { return &c.MetricsAddr })},
		{Flag: "ui-addr", Env: "REPRISE_UI_ADDR", Default: ui.DefaultAddr, Roles: "orchestrator",
			Usage: "address of the web UI (\"off\" disables)",
			set:   str(func(c *Config) *string { return &c.UIAddr })},
		{Flag: "ui-read-only", Env: "REPRISE_UI_READ_ONLY", Default: "false", Roles: "orchestrator", Bool: true,
			Usage: "the web UI shows instances but offers no action (start, raise, terminate, suspend, resume, purge) and refuses them",
			set: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("%q is not true or false", v)
				}
				c.UIReadOnly = b
				return nil
			}},
		{Flag: "max-payload", Env: "REPRISE_MAX_PAYLOAD", Default: strconv.Itoa(api.DefaultMaxPayloadBytes), Roles: "orchestrator",
			Usage: "largest input or event payload the API accepts, in bytes (at most (NATS max_payload - 1 MiB - 1 KiB) / 3: 2446336 on the embedded server)",
			set:   num(func(c *Config) *int { return &c.MaxPayloadBytes })},
		{Flag: "max-waits", Env: "REPRISE_MAX_WAITS", Default: strconv.Itoa(DefaultMaxWaits), Roles: "orchestrator",
			Usage: "wait requests held at once; one more is answered unavailable",
			set:   num(func(c *Config) *int { return &c.MaxWaits })},
		{Flag: "max-waits-per-client", Env: "REPRISE_MAX_WAITS_PER_CLIENT", Default: strconv.Itoa(DefaultMaxWaitsPerClient), Roles: "orchestrator",
			Usage: "wait requests of one client (one NATS connection) held at once; one more is answered unavailable",
			set:   num(func(c *Config) *int { return &c.MaxWaitsPerClient })},
		{Flag: "reuse", Env: "REPRISE_REUSE", Default: string(api.ReuseReject), Roles: "orchestrator",
			Usage: "default reuse policy of a start naming an existing id: reject or replace_finished",
			set:   func(c *Config, v string) error { c.Reuse = api.ReusePolicy(v); return nil }},
		{Flag: "retention", Env: "REPRISE_RETENTION", Default: runtime.DefaultRetention.String(), Roles: "orchestrator",
			Usage: "how long a finished instance (and each earlier execution of a continued-as-new one) is kept before it is deleted, 1s to 100 years; a start's \"retention\" overrides it",
			set:   dur(func(c *Config) *time.Duration { return &c.Retention })},
		{Flag: "lock-timeout", Env: "REPRISE_LOCK_TIMEOUT", Default: DefaultLockTimeout.String(), Roles: "both",
			Usage: "how long fetched work stays locked without renewal; after a crash it is redelivered when this expires (same value on every process)",
			set:   dur(func(c *Config) *time.Duration { return &c.LockTimeout })},
		{Flag: "snapshot-records", Env: "REPRISE_SNAPSHOT_RECORDS", Default: "50000", Roles: "orchestrator",
			Usage: "snapshot a shard and trim its log once the log holds this many records above the shard's latest snapshot; -1: never",
			set:   num(func(c *Config) *int { return &c.SnapshotRecords })},
		{Flag: "snapshot-interval", Env: "REPRISE_SNAPSHOT_INTERVAL", Default: "1h", Roles: "orchestrator",
			Usage: "snapshot a shard whose latest snapshot is older than this and whose log has records above it",
			set:   dur(func(c *Config) *time.Duration { return &c.SnapshotInterval })},
		{Flag: "drain-timeout", Env: "REPRISE_DRAIN_TIMEOUT", Default: DefaultDrainTimeout.String(), Roles: "both",
			Usage: "on SIGTERM/SIGINT, how long in-flight turns and activities get to finish",
			set:   dur(func(c *Config) *time.Duration { return &c.DrainTimeout })},
		{Flag: "stall-timeout", Env: "REPRISE_STALL_TIMEOUT", Default: DefaultStallTimeout.String(), Roles: "both",
			Usage: "/healthz fails when a turn, an activity's completion or a provider loop's pass has run this long (waiting for work is not a stall)",
			set:   dur(func(c *Config) *time.Duration { return &c.StallTimeout })},
		{Flag: "log-level", Env: "REPRISE_LOG_LEVEL", Default: "info", Roles: "both",
			Usage: "debug, info, warn or error",
			set:   str(func(c *Config) *string { return &c.LogLevel })},
		{Flag: "log-format", Env: "REPRISE_LOG_FORMAT", Default: "text", Roles: "both",
			Usage: "text or json",
			set:   str(func(c *Config) *string { return &c.LogFormat })},
	}
}

// BindFlags defines every setting on fs, writing into c. Environment
// variables (read with getenv, e.g. os.Getenv) set the starting values, so a
// flag given on the command line wins over the environment. An empty
// UIAddr starts as the UI's default address, so that the command line
// serves the UI unless told "off". It returns the errors of malformed
// environment values.
func (c *Config) BindFlags(fs *flag.FlagSet, getenv func(string) string) error {
	var errs []error
	if c.UIAddr == "" {
		// On the command line the UI is on unless turned off.
		c.UIAddr = ui.DefaultAddr
	}
	for _, s := range Settings() {
		if v := getenv(s.Env); v != "" {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
		def := s.Default
		if def == "" {
			def = "none"
		}
		fs.Var(&settingValue{c: c, s: s}, s.Flag, fmt.Sprintf("%s (env %s, default %s)", s.Usage, s.Env, def))
	}
	return errors.Join(errs...)
}

// settingValue adapts a Setting to flag.Value.
type settingValue struct {
	c   *Config
	s   Setting
	val string
}

func (v *settingValue) String() string {
	if v == nil {
		return ""
	}
	return v.val
}

func (v *settingValue) Set(s string) error {
	v.val = s
	return v.s.set(v.c, s)
}

func (v *settingValue) IsBoolFlag() bool { return v.s.Bool }
