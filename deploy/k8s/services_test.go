package k8s

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// service is a Reprise workload of the manifests and the role its binary
// runs.
type service struct {
	workload string
	role     host.Role
	image    string
}

var services = []service{
	{workload: "reprise-orchestrator", role: host.Orchestrator, image: "reprise/orchestrator"},
	{workload: "reprise-worker", role: host.Worker, image: "reprise/worker"},
}

// serviceContainer returns the Reprise container of the workload.
func serviceContainer(t *testing.T, w workload, s service) corev1.Container {
	t.Helper()
	var found []corev1.Container
	for _, c := range w.template.Spec.Containers {
		if strings.HasPrefix(c.Image, s.image+":") || c.Image == s.image {
			found = append(found, c)
		}
	}
	if len(found) != 1 || len(w.template.Spec.Containers) != 1 {
		t.Fatalf("%s: want exactly one container, running image %s; have %d containers", w.name, s.image, len(w.template.Spec.Containers))
	}
	return found[0]
}

// containerEnv is the container's environment as the process sees it:
// envFrom ConfigMaps in order, then env (which wins). Values from the
// downward API or secrets are recorded with the value "".
func containerEnv(t *testing.T, m *manifests, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", c.Name)
		}
		cm, ok := m.configMap(ef.ConfigMapRef.Name)
		if !ok {
			t.Fatalf("%s: ConfigMap %s not declared", c.Name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// effectiveConfig binds the service's settings exactly as its main does
// (host.MainArgs): environment first, flags winning. It fails the test on
// an environment variable or flag the role does not read.
func effectiveConfig(t *testing.T, m *manifests, s service, c corev1.Container) host.Config {
	t.Helper()
	settings := map[string]host.Setting{}
	byFlag := map[string]host.Setting{}
	for _, st := range host.Settings() {
		settings[st.Env] = st
		byFlag[st.Flag] = st
	}
	forRole := func(st host.Setting) bool { return st.Roles == "both" || st.Roles == s.role.String() }

	env := containerEnv(t, m, c)
	for name := range env {
		if !strings.HasPrefix(name, "REPRISE_") {
			continue
		}
		st, ok := settings[name]
		if !ok {
			t.Errorf("%s: environment variable %s is not read by the services (host.Settings)", s.workload, name)
			continue
		}
		if !forRole(st) {
			t.Errorf("%s: %s is a setting of the %s, not of the %s", s.workload, name, st.Roles, s.role)
		}
	}
	if len(c.Command) > 0 {
		t.Errorf("%s: the command overrides the image's entrypoint; pass flags in args", s.workload)
	}
	fs := flag.NewFlagSet(s.workload, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg host.Config
	if err := cfg.BindFlags(fs, func(k string) string { return env[k] }); err != nil {
		t.Errorf("%s: environment: %v", s.workload, err)
	}
	if err := fs.Parse(c.Args); err != nil {
		t.Errorf("%s: args %q: %v", s.workload, c.Args, err)
	}
	if fs.NArg() > 0 {
		t.Errorf("%s: args %q leave non-flag arguments %q, which the service refuses", s.workload, c.Args, fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		if st := byFlag[f.Name]; !forRole(st) {
			t.Errorf("%s: flag -%s is a setting of the %s, not of the %s", s.workload, f.Name, st.Roles, s.role)
		}
	})
	return cfg
}

// TestFlagsAndEnvironment cross-checks the services' configuration in the
// manifests with the settings the services read (host.Settings, the same
// table their -h prints): every REPRISE_* variable and every flag exists for
// the role and parses, and the values agree with the rest of the manifests.
func TestFlagsAndEnvironment(t *testing.T) {
	m := loadManifests(t)
	cfgs := map[string]host.Config{}
	for _, s := range services {
		w := m.workload(t, s.workload)
		c := serviceContainer(t, w, s)
		cfg := effectiveConfig(t, m, s, c)
		cfgs[s.workload] = cfg

		// The metrics address's port is the container's "metrics" port, the
		// scrape annotation's port and the probes' port.
		addr := cfg.MetricsAddr
		if addr == "" {
			addr = host.DefaultMetricsAddr
		}
		_, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s: metrics address %q: %v", s.workload, addr, err)
		}
		port, _ := strconv.Atoi(portStr)
		if cp, ok := containerPort(c, "metrics"); !ok || int(cp) != port {
			t.Errorf("%s: container port \"metrics\" is %d, the service listens on %s", s.workload, cp, addr)
		}
		if got := w.template.Annotations["prometheus.io/port"]; got != portStr {
			t.Errorf("%s: prometheus.io/port is %q, the service listens on %s", s.workload, got, addr)
		}
		if w.template.Annotations["prometheus.io/scrape"] != "true" {
			t.Errorf("%s: prometheus.io/scrape is not \"true\"", s.workload)
		}
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", s.workload, name)
				continue
			}
			if pp, _ := podPort(w.template.Spec, p.HTTPGet.Port); int(pp) != port {
				t.Errorf("%s: %s probe on port %d, the service listens on %s", s.workload, name, pp, addr)
			}
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness probe %s, want /healthz (alive; /readyz would restart a pod that lost NATS)", s.workload, c.LivenessProbe.HTTPGet.Path)
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe %s, want /readyz", s.workload, c.ReadinessProbe.HTTPGet.Path)
		}

		// NATS: the client Service, and streams replicated on every server.
		checkNATSURL(t, m, s.workload, cfg.NATSURL)
		nats := named[*appsv1.StatefulSet](t, m, "nats")
		if cfg.Replicas != int(ptrOr(nats.Spec.Replicas, 1)) {
			t.Errorf("%s: stream replicas %d (REPRISE_REPLICAS), the NATS cluster has %d servers", s.workload, cfg.Replicas, ptrOr(nats.Spec.Replicas, 1))
		}

		// The drain finishes before the kubelet kills the process.
		grace := time.Duration(ptrOr(w.template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
		drain := cfg.DrainTimeout
		if drain == 0 {
			drain = host.DefaultDrainTimeout
		}
		if drain+5*time.Second > grace {
			t.Errorf("%s: drain timeout %v leaves under 5s of the %v termination grace period", s.workload, drain, grace)
		}

		// A read-only root filesystem: whatever the service writes is on a
		// mounted volume.
		switch s.role {
		case host.Orchestrator:
			dir := cfg.DataDir
			if dir == "" || !filepath.IsAbs(dir) {
				t.Errorf("%s: data directory %q must be absolute, on the persistent volume", s.workload, dir)
			}
			if vol := mountOf(c, dir); vol == "" || !slices.Contains(w.claims, vol) {
				t.Errorf("%s: data directory %s is not on a persistent volume claim (mount %q, claims %v)", s.workload, dir, vol, w.claims)
			}
			// Activities run in the worker Deployment.
			if cfg.Activities != host.ActivitiesOff {
				t.Errorf("%s: REPRISE_ACTIVITIES is %q; in the cluster activities run in the worker", s.workload, cfg.Activities)
			}
		case host.Worker:
			// A worker keeps no store, but activities may write temporary
			// files: $TMPDIR is a writable volume.
			tmp := containerEnv(t, m, c)["TMPDIR"]
			if tmp == "" {
				tmp = "/tmp"
			}
			if mountOf(c, tmp) == "" {
				t.Errorf("%s: the scratch directory %s is not a writable volume", s.workload, tmp)
			}
		}
	}

	// Both roles hash instances to the same shards under the same prefix.
	o, w := cfgs["reprise-orchestrator"], cfgs["reprise-worker"]
	if o.Shards != w.Shards || o.Prefix != w.Prefix || o.NATSURL != w.NATSURL {
		t.Errorf("orchestrator and worker disagree: shards %d/%d, prefix %q/%q, NATS %q/%q", o.Shards, w.Shards, o.Prefix, w.Prefix, o.NATSURL, w.NATSURL)
	}

	// The orchestrator pods share the shards by leases: nothing pins them
	// (no ordinal, no orchestrator count, no owned shards), so that a
	// plain `kubectl scale` works and a dead pod's shards move.
	if o.Orchestrators != 0 || o.OwnedShards != nil {
		t.Errorf("orchestrator pods pin their shards (orchestrators %d, owned %v): they must share them by leases",
			o.Orchestrators, o.OwnedShards)
	}
	for _, c := range m.workload(t, "reprise-orchestrator").template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "REPRISE_ORDINAL" || e.Name == "REPRISE_ORCHESTRATORS" || e.Name == "REPRISE_OWNED_SHARDS" {
				t.Errorf("%s sets %s: orchestrators share the shards by leases", c.Name, e.Name)
			}
		}
	}
	if o.LeaseTTL < 10*time.Second {
		t.Errorf("REPRISE_LEASE_TTL is %s: a NATS stream leader election (up to 9 s) would hand shards over", o.LeaseTTL)
	}
}

// mountOf returns the name of the volume mounted (writable) at dir or above.
func mountOf(c corev1.Container, dir string) string {
	best, name := "", ""
	for _, vm := range c.VolumeMounts {
		mp := path.Clean(vm.MountPath)
		if vm.ReadOnly || (dir != mp && !strings.HasPrefix(dir, mp+"/")) {
			continue
		}
		if len(mp) > len(best) {
			best, name = mp, vm.Name
		}
	}
	return name
}

// checkNATSURL: every URL names the NATS client Service and its port.
func checkNATSURL(t *testing.T, m *manifests, who, urls string) {
	t.Helper()
	if urls == "" {
		t.Errorf("%s: no NATS URL: the orchestrator would start an embedded server", who)
		return
	}
	for u := range strings.SplitSeq(urls, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Scheme != "tls" {
			t.Errorf("%s: NATS URL %q", who, u)
			continue
		}
		svc := named[*corev1.Service](t, m, strings.TrimSuffix(pu.Hostname(), "."+namespace+".svc"))
		found := false
		for _, p := range svc.Spec.Ports {
			if strconv.Itoa(int(p.Port)) == pu.Port() && p.Name == "client" {
				found = true
			}
		}
		if !found || svc.Spec.ClusterIP == corev1.ClusterIPNone {
			t.Errorf("%s: NATS URL %s is not the client port of the Service %s", who, u, svc.Name)
		}
	}
}

// TestProbePathsAreServed starts an orchestrator (embedded NATS) and a worker
// in process, with the manifests' settings where they apply, and requests
// every probe and scrape path of the manifests from them.
func TestProbePathsAreServed(t *testing.T) {
	m := loadManifests(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	var natsURL string
	for _, s := range services {
		w := m.workload(t, s.workload)
		c := serviceContainer(t, w, s)
		cfg := effectiveConfig(t, m, s, c)
		// Local stand-ins for the cluster's addresses and volumes.
		cfg.MetricsAddr = "127.0.0.1:0"
		cfg.DataDir = t.TempDir()
		cfg.Replicas = 1
		cfg.NATSURL = natsURL // "" starts the orchestrator's embedded server
		cfg.NATSListen = "127.0.0.1:0"
		// The embedded server has no users and no TLS (the secured
		// cluster is TestSecuredNATSCluster's).
		cfg.NATSNKey, cfg.TLSCA = "", ""
		cfg.Logger = quiet
		if s.role == host.Orchestrator {
			cfg.Activities = host.ActivitiesAuto
		}
		n, err := host.Start(ctx, s.role, cfg, runtime.NewRegistry())
		if err != nil {
			t.Fatalf("%s: %v", s.workload, err)
		}
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.Stop(stop); err != nil {
				t.Errorf("%s: stop: %v", s.workload, err)
			}
		})
		if s.role == host.Orchestrator {
			natsURL = n.NATSURL()
		}

		paths := map[string]string{
			"startup probe":   c.StartupProbe.HTTPGet.Path,
			"liveness probe":  c.LivenessProbe.HTTPGet.Path,
			"readiness probe": c.ReadinessProbe.HTTPGet.Path,
			"scrape path":     w.template.Annotations["prometheus.io/path"],
		}
		for _, pm := range all[*podMonitor](m) {
			if selects(t, &pm.Spec.Selector, w.template.Labels) {
				for i, e := range pm.Spec.PodMetricsEndpoints {
					paths[fmt.Sprintf("PodMonitor %s endpoint %d", pm.Name, i)] = e.Path
				}
			}
		}
		for what, p := range paths {
			body, code := get(t, ctx, "http://"+n.HealthAddr()+p)
			if code != http.StatusOK {
				t.Errorf("%s: %s %s answered %d: %s", s.workload, what, p, code, body)
			}
			if strings.Contains(what, "PodMonitor") || what == "scrape path" {
				if !strings.Contains(body, "# TYPE ") {
					t.Errorf("%s: %s %s does not serve Prometheus metrics", s.workload, what, p)
				}
			}
		}
		// A path the service does not serve is not 200: the check above
		// would catch a misspelt probe.
		if _, code := get(t, ctx, "http://"+n.HealthAddr()+"/healthz-typo"); code == http.StatusOK {
			t.Errorf("%s: an unknown path answered 200", s.workload)
		}
	}
}

func get(t *testing.T, ctx context.Context, u string) (string, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return string(b), resp.StatusCode
}
