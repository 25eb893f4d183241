package host

import (
	"bytes"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime"
)

func TestFlagsWinOverEnvironment(t *testing.T) {
	env := map[string]string{
		"REPRISE_NATS_URL":      "nats://env:4222",
		"REPRISE_SHARDS":        "32",
		"REPRISE_DRAIN_TIMEOUT": "5s",
		"REPRISE_OWNED_SHARDS":  "0-3,8",
		"REPRISE_REUSE":         "replace_finished",
		"REPRISE_NATS_SYNC":     "true",
		"REPRISE_FSYNC":         "true",
	}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	if err := c.BindFlags(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-shards", "64", "-data-dir", "/tmp/x", "-nats-sync=false"}); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	if c.NATSURL != "nats://env:4222" || c.Shards != 64 || c.DataDir != "/tmp/x" || c.DrainTimeout != 5*time.Second ||
		!slices.Equal(c.OwnedShards, []int{0, 1, 2, 3, 8}) || c.Reuse != api.ReuseReplaceFinished || c.NATSSync || !c.FSync {
		t.Fatalf("config %+v", c)
	}
	if c.MetricsAddr != DefaultMetricsAddr || c.NATSListen != DefaultNATSListen || c.MaxPayloadBytes != api.DefaultMaxPayloadBytes {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestUIIsOnByDefaultOnTheCommandLineOnly(t *testing.T) {
	bind := func(env map[string]string, args ...string) Config {
		t.Helper()
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		if err := c.BindFlags(fs, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c.withDefaults()
	}
	if c := bind(nil); c.UIAddr != "127.0.0.1:8233" || !c.uiEnabled() || c.UIReadOnly {
		t.Fatalf("command-line default: UI %q, read-only %v", c.UIAddr, c.UIReadOnly)
	}
	if c := bind(map[string]string{"REPRISE_UI_ADDR": "off"}); c.uiEnabled() {
		t.Fatal("REPRISE_UI_ADDR=off left the UI on")
	}
	if c := bind(map[string]string{"REPRISE_UI_ADDR": ":9999"}, "-ui-addr", "0.0.0.0:8080", "-ui-read-only"); c.UIAddr != "0.0.0.0:8080" || !c.UIReadOnly {
		t.Fatalf("flags: UI %q, read-only %v", c.UIAddr, c.UIReadOnly)
	}
	if (Config{}).withDefaults().uiEnabled() {
		t.Fatal("a Config built in Go serves the UI without being asked")
	}
}

func TestMalformedEnvironmentIsReported(t *testing.T) {
	var c Config
	err := c.BindFlags(flag.NewFlagSet("t", flag.ContinueOnError), func(k string) string {
		return map[string]string{"REPRISE_SHARDS": "many", "REPRISE_LOCK_TIMEOUT": "soon"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "REPRISE_SHARDS") || !strings.Contains(err.Error(), "REPRISE_LOCK_TIMEOUT") {
		t.Fatalf("malformed environment: %v", err)
	}
}

func TestValidateRejectsBadSettings(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Shards = 5000 }, "shards"},
		{func(c *Config) { c.OwnedShards = []int{16} }, "owned shard 16"},
		{func(c *Config) { c.Reuse = "maybe" }, "reuse"},
		{func(c *Config) { c.Activities = "sometimes" }, "activities"},
		{func(c *Config) { c.MetricsAddr = "9090" }, "metrics address"},
		{func(c *Config) { c.UIAddr = "8233" }, "UI address"},
		{func(c *Config) { c.TLSCert = "cert.pem" }, "key"},
		{func(c *Config) { c.LogLevel = "loud" }, "log level"},
		{func(c *Config) { c.MaxPayloadBytes = 64 << 20 }, "max payload"},
		{func(c *Config) { c.Prefix = "a.b" }, "prefix"},
		{func(c *Config) { c.LockTimeout = time.Millisecond }, "lock timeout"},
		{func(c *Config) { c.Orchestrators = 17 }, "orchestrators is 17"},
		{func(c *Config) { c.Orchestrators = 3; c.Ordinal = 3 }, "ordinal is 3"},
		{func(c *Config) { c.Ordinal = -2 }, "ordinal is -2"},
		{func(c *Config) { c.FSync = true; c.NATSURL = "nats://elsewhere:4222" }, "-fsync works with the embedded NATS server only"},
	} {
		cfg := Config{Shards: 16}
		c.edit(&cfg)
		err := cfg.withDefaults().validate(Orchestrator)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error about %q, got %v", c.want, err)
		}
	}
	if err := (Config{}).withDefaults().validate(Orchestrator); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
}

func TestParseShards(t *testing.T) {
	got, err := ParseShards(" 0-2, 5 ,7-7")
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 5, 7}) {
		t.Fatalf("ParseShards = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "3-1", "1-", "-1", "1,,2"} {
		if _, err := ParseShards(bad); err == nil {
			t.Errorf("ParseShards(%q) accepted", bad)
		}
	}
}

func TestOrdinalSettings(t *testing.T) {
	env := map[string]string{"REPRISE_ORCHESTRATORS": "3", "REPRISE_ORDINAL": "auto"}
	var c Config
	if err := c.BindFlags(flag.NewFlagSet("t", flag.ContinueOnError), func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Orchestrators != 3 || c.Ordinal != OrdinalAuto {
		t.Fatalf("orchestrators %d, ordinal %d; want 3, auto", c.Orchestrators, c.Ordinal)
	}
	for _, bad := range []string{"-1", "first", ""} {
		var c Config
		err := c.BindFlags(flag.NewFlagSet("t", flag.ContinueOnError), func(k string) string {
			return map[string]string{"REPRISE_ORDINAL": bad}[k]
		})
		if (err == nil) != (bad == "") { // an empty variable is unset
			t.Errorf("REPRISE_ORDINAL=%q: %v", bad, err)
		}
	}
}

func TestOwnedShardsFollowTheOrdinal(t *testing.T) {
	host := func(name string) func() (string, error) { return func() (string, error) { return name, nil } }
	for _, c := range []struct {
		cfg      Config
		hostname string
		want     []int
		err      string
	}{
		{cfg: Config{}, want: nil}, // one orchestrator: all
		{cfg: Config{Shards: 16, Orchestrators: 3, Ordinal: 1}, want: []int{1, 4, 7, 10, 13}},
		{cfg: Config{Shards: 16, Orchestrators: 3, Ordinal: OrdinalAuto}, hostname: "reprise-orchestrator-2", want: []int{2, 5, 8, 11, 14}},
		{cfg: Config{Shards: 16, Orchestrators: 3, Ordinal: OrdinalAuto}, hostname: "reprise-orchestrator-0.reprise-orchestrator-headless.reprise.svc", want: []int{0, 3, 6, 9, 12, 15}},
		{cfg: Config{Orchestrators: 3, Ordinal: OrdinalAuto}, hostname: "reprise-orchestrator-3", err: "not below the orchestrator count 3"},
		{cfg: Config{Orchestrators: 3, Ordinal: OrdinalAuto}, hostname: "laptop", err: "does not end in -<ordinal>"},
		{cfg: Config{Orchestrators: 3, Ordinal: OrdinalAuto}, hostname: "pod-01", err: "does not end in -<ordinal>"},
		// An explicit list wins over the ordinal.
		{cfg: Config{Orchestrators: 3, Ordinal: 1, OwnedShards: []int{0, 1}}, want: []int{0, 1}},
	} {
		got, err := c.cfg.withDefaults().ownedShards(host(c.hostname))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v on %q: %v, want an error about %q", c.cfg, c.hostname, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%+v on %q: %v, %v; want %v", c.cfg, c.hostname, got, err, c.want)
		}
	}
	// Every shard has exactly one owner among the ordinals.
	for _, n := range []int{1, 2, 3, 5, 16} {
		owners := make([]int, 16)
		for k := range n {
			for _, s := range OrdinalShards(16, n, k) {
				owners[s]++
			}
		}
		for s, o := range owners {
			if o != 1 {
				t.Errorf("%d orchestrators: shard %d has %d owners", n, s, o)
			}
		}
	}
}

func TestSettingsAreDocumentedAndUnique(t *testing.T) {
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		if s.Usage == "" || !strings.HasPrefix(s.Env, "REPRISE_") || flags[s.Flag] || envs[s.Env] {
			t.Fatalf("setting %+v: undocumented or repeated", s)
		}
		flags[s.Flag], envs[s.Env] = true, true
		if s.Roles != "both" && s.Roles != "orchestrator" && s.Roles != "worker" {
			t.Fatalf("setting %s has roles %q", s.Flag, s.Roles)
		}
	}
}

func TestMainArgsUsageErrors(t *testing.T) {
	var out bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := MainArgs(Orchestrator, runtime.NewRegistry(), []string{"-no-such-flag"}, noEnv, &out); code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
	if code := MainArgs(Orchestrator, runtime.NewRegistry(), []string{"stray"}, noEnv, &out); code != 2 {
		t.Fatalf("stray argument: exit %d", code)
	}
	if code := MainArgs(Worker, runtime.NewRegistry(), []string{"-metrics-addr", "off"}, noEnv, &out); code != 1 || !strings.Contains(out.String(), "NATS URL") {
		t.Fatalf("worker without NATS: exit %d, %s", code, out.String())
	}
	if code := MainArgs(Orchestrator, runtime.NewRegistry(), []string{"-h"}, noEnv, io.Discard); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
}
