package k8s

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// embeddedMaxPayload is the message size limit of Reprise's embedded NATS
// server (internal/natsembed): the cluster must allow as much.
const embeddedMaxPayload = 8 << 20

// TestNATSConfig loads the ConfigMap's nats.conf with nats-server's own
// parser, as each pod would (SERVER_NAME set to its pod name), and checks
// it against the StatefulSet and the Services.
func TestNATSConfig(t *testing.T) {
	m := loadManifests(t)
	sts := named[*appsv1.StatefulSet](t, m, "nats")
	w := m.workload(t, "nats")
	var c corev1.Container
	for _, cc := range w.template.Spec.Containers {
		if cc.Name == "nats" {
			c = cc
		}
	}
	if !strings.HasPrefix(c.Image, "nats:2.") {
		t.Errorf("nats image %s, want the official nats:2.x image (pinned: TestImagesAndVersionsArePinned)", c.Image)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("nats pods start %s; JetStream needs a quorum up to be ready, so they must start in parallel", sts.Spec.PodManagementPolicy)
	}

	// The config file the server reads: --config <mount>/<key>, from the
	// generated ConfigMap.
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("nats args %q have no --config", c.Args)
	}
	confPath := c.Args[i+1]
	var conf string
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(confPath) {
			continue
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm, ok := m.configMap(v.ConfigMap.Name)
				if !ok {
					t.Fatalf("ConfigMap %s not declared", v.ConfigMap.Name)
				}
				conf = cm.Data[path.Base(confPath)]
			}
		}
	}
	if conf == "" {
		t.Fatalf("%s is not a file of a mounted ConfigMap", confPath)
	}
	// The TLS files come from the Secret nats-server-tls (test ones here),
	// the users' public NKeys from the Secret nats-nkeys, as environment
	// variables.
	pki := newTestPKI(t)
	testNKeys(t)
	for v, key := range natsUsers {
		ok := false
		for _, e := range c.Env {
			if e.Name == v && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ok = e.ValueFrom.SecretKeyRef.Name == natsNKeySecret && e.ValueFrom.SecretKeyRef.Key == key
			}
		}
		if !ok {
			t.Errorf("nats: %s is not set from the Secret %s, key %s", v, natsNKeySecret, key)
		}
	}
	tlsMount := secretMount(t, w, c, natsTLSSecret)
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if !strings.Contains(conf, `"`+tlsMount+"/"+f+`"`) {
			t.Errorf("nats.conf does not read %s/%s", tlsMount, f)
		}
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(relocate(conf, map[string]string{tlsMount: pki.dir})), 0o600); err != nil {
		t.Fatal(err)
	}

	// SERVER_NAME comes from the pod name.
	var serverNameFromPod bool
	for _, e := range c.Env {
		if e.Name == "SERVER_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			serverNameFromPod = true
		}
	}
	if !serverNameFromPod {
		t.Error("nats: SERVER_NAME is not set from metadata.name")
	}
	t.Setenv("SERVER_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if opts.ServerName != "nats-1" {
		t.Errorf("server_name is %q, want the pod name", opts.ServerName)
	}

	port := func(name string) int {
		p, ok := containerPort(c, name)
		if !ok {
			t.Errorf("nats has no container port %q", name)
		}
		return int(p)
	}
	if opts.Port != port("client") || opts.Cluster.Port != port("cluster") || opts.HTTPPort != port("monitor") {
		t.Errorf("nats.conf listens on client %d, cluster %d, monitoring %d; container ports client %d cluster %d monitor %d",
			opts.Port, opts.Cluster.Port, opts.HTTPPort, port("client"), port("cluster"), port("monitor"))
	}
	if !opts.JetStream {
		t.Error("nats.conf does not enable JetStream")
	}
	if v := mountOf(c, opts.StoreDir); v == "" || !slices.Contains(w.claims, v) {
		t.Errorf("JetStream store %s is not on the PersistentVolumeClaim (mount %q)", opts.StoreDir, v)
	}
	for _, vct := range sts.Spec.VolumeClaimTemplates {
		size := vct.Spec.Resources.Requests[corev1.ResourceStorage]
		if vct.Name == mountOf(c, opts.StoreDir) && opts.JetStreamMaxStore >= size.Value() {
			t.Errorf("max_file_store %d is not below the volume's %s", opts.JetStreamMaxStore, size.String())
		}
	}
	if opts.MaxPayload < embeddedMaxPayload {
		t.Errorf("max_payload %d is below the %d bytes Reprise's commits may need", opts.MaxPayload, embeddedMaxPayload)
	}
	if opts.PidFile == "" || mountOf(c, path.Dir(opts.PidFile)) == "" {
		t.Errorf("pid file %q is not on a writable volume", opts.PidFile)
	}
	if pre := c.Lifecycle; pre == nil || pre.PreStop == nil || pre.PreStop.Exec == nil ||
		!slices.Contains(pre.PreStop.Exec.Command, "ldm="+opts.PidFile) {
		t.Errorf("the preStop hook does not put the server in lame-duck mode through %s", opts.PidFile)
	}
	if opts.LameDuckDuration <= 0 || int64(opts.LameDuckDuration.Seconds()) >= ptrOr(w.template.Spec.TerminationGracePeriodSeconds, 30) {
		t.Errorf("lame_duck_duration %v must end within the termination grace period %ds", opts.LameDuckDuration, ptrOr(w.template.Spec.TerminationGracePeriodSeconds, 30))
	}

	// Cluster routes: one per pod, by the headless Service's DNS names.
	if opts.Cluster.Name == "" {
		t.Error("nats.conf names no cluster")
	}
	headless := named[*corev1.Service](t, m, sts.Spec.ServiceName)
	if !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("headless Service %s does not publish not-ready addresses: the servers cannot find each other to become ready", headless.Name)
	}
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.String())
	}
	var want []string
	for i := range ptrOr(sts.Spec.Replicas, 1) {
		want = append(want, fmt.Sprintf("nats://%s-%d.%s:%d", sts.Name, i, headless.Name, opts.Cluster.Port))
	}
	if !slices.Equal(routes, want) {
		t.Errorf("routes %v, want %v", routes, want)
	}
	for _, p := range headless.Spec.Ports {
		if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "cluster" && int(p.Port) != opts.Cluster.Port {
			t.Errorf("headless Service cluster port %d, routes use %d", p.Port, opts.Cluster.Port)
		}
	}

	// Probes on the monitoring port's /healthz.
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("nats: no HTTP %s probe", name)
			continue
		}
		if pp, _ := podPort(w.template.Spec, p.HTTPGet.Port); int(pp) != opts.HTTPPort || !strings.HasPrefix(p.HTTPGet.Path, "/healthz") {
			t.Errorf("nats %s probe %s on port %d; the monitoring endpoint is /healthz on %d", name, p.HTTPGet.Path, pp, opts.HTTPPort)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path != "/healthz?js-enabled-only=true" {
		t.Errorf("nats liveness probe %s: a server whose streams catch up must not be restarted; want /healthz?js-enabled-only=true", c.LivenessProbe.HTTPGet.Path)
	}
}
