package k8s

import (
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestStrictDecoderRejectsUnknownFields proves the decoder the other tests
// rely on is strict: a misspelt field is an error, not silently dropped.
func TestStrictDecoderRejectsUnknownFields(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 2
  selector: {matchLabels: {a: b}}
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}`,
		"duplicate field": `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {a: "1"}
data: {b: "2"}`,
		"PodMonitor unknown field": `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  podMetricsEndpoints: [{port: metrics, pathh: /metrics}]`,
		"unknown kind": `
apiVersion: v1
kind: Sevrice
metadata: {name: x}`,
	} {
		if _, _, err := decodeDocument([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	// And a correct document decodes.
	if _, gvk, err := decodeDocument([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"1\"}\n")); err != nil || gvk != "/v1, Kind=ConfigMap" {
		t.Fatalf("valid ConfigMap: %v, %q", err, gvk)
	}
}

// notApplied are the files under deploy/k8s that the base kustomization
// does not apply: the plain Prometheus rules file and its promtool tests
// (the PrometheusRule carries the same rules). The overlays live beside
// this directory, in deploy/overlays (TestOverlays).
var notApplied = []string{rulesFile, ruleTestsFile}

// TestKustomizationListsEveryFile: every file under deploy/k8s (but the Go
// tests and notApplied) is a resource or a generator input of the
// kustomization, and every file listed exists.
func TestKustomizationListsEveryFile(t *testing.T) {
	m := loadManifests(t)
	k := m.kust
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization is %s %s", k.APIVersion, k.Kind)
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization namespace %q, want %q", k.Namespace, namespace)
	}
	listed := map[string]int{}
	for _, r := range k.Resources {
		listed[filepath.Clean(r)]++
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			_, p := generatorFile(f)
			listed[filepath.Clean(p)]++
		}
	}
	var onDisk []string
	err := filepath.WalkDir(m.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if slices.Contains(notApplied, filepath.ToSlash(path)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || strings.HasSuffix(path, ".go") || path == "kustomization.yaml" {
			return nil
		}
		onDisk = append(onDisk, filepath.Clean(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range onDisk {
		if listed[f] == 0 {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	for f, n := range listed {
		if !slices.Contains(onDisk, f) {
			t.Errorf("kustomization.yaml lists %s, which does not exist", f)
		}
		if n > 1 {
			t.Errorf("kustomization.yaml lists %s %d times", f, n)
		}
	}
	// The namespace itself is declared.
	if ns := named[*corev1.Namespace](t, m, namespace); ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted pod security standard", namespace)
	}
}

// TestObjects: only the expected kinds, unique names, no namespace other
// than the kustomization's.
func TestObjects(t *testing.T) {
	m := loadManifests(t)
	seen := map[string]string{}
	for _, o := range m.objects {
		if !slices.Contains(kinds, o.gvk) {
			t.Errorf("%s: unexpected kind %s", o.file, o.gvk)
		}
		meta := o.obj.(metav1.Object)
		key := o.gvk + "/" + meta.GetName()
		if prev, dup := seen[key]; dup {
			t.Errorf("%s and %s both declare %s", prev, o.file, key)
		}
		seen[key] = o.file
		if ns := meta.GetNamespace(); ns != "" && ns != namespace {
			t.Errorf("%s: %s is in namespace %q", o.file, key, ns)
		}
		if meta.GetLabels()["app.kubernetes.io/part-of"] != "reprise" {
			t.Errorf("%s: %s lacks the label app.kubernetes.io/part-of=reprise", o.file, key)
		}
	}
	for name, cm := range m.generated {
		if cm.Labels["app.kubernetes.io/part-of"] != "reprise" {
			t.Errorf("generated ConfigMap %s lacks the label app.kubernetes.io/part-of=reprise", name)
		}
	}
	want := map[string]int32{"nats": 3, "reprise-orchestrator": 3, "reprise-worker": 2}
	got := map[string]int32{}
	for _, w := range m.workloads() {
		got[w.name] = w.replicas
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("workload %s has %d replicas, want %d", name, got[name], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("workloads %v, want %v", got, want)
	}
}

// selects reports whether sel selects the pod template's labels.
func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// selected returns the workloads whose pods sel selects.
func (m *manifests) selected(t *testing.T, sel *metav1.LabelSelector) []workload {
	var out []workload
	for _, w := range m.workloads() {
		if selects(t, sel, w.template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

func containerPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// podPort resolves a named or numbered port against the pod's containers.
func podPort(spec corev1.PodSpec, p intstr.IntOrString) (int32, bool) {
	for _, c := range spec.Containers {
		if p.Type == intstr.String {
			if n, ok := containerPort(c, p.StrVal); ok {
				return n, true
			}
			continue
		}
		for _, cp := range c.Ports {
			if cp.ContainerPort == p.IntVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// TestSelectorsAndReferences: every workload's selector selects its own
// pods; Services, PodDisruptionBudgets, the HPA and the PodMonitors select
// exactly one workload and name ports it has; StatefulSets name a headless
// Service; volumes and ConfigMaps referenced exist.
func TestSelectorsAndReferences(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		if !selects(t, w.selector, w.template.Labels) {
			t.Errorf("%s %s: selector %v does not select its pod labels %v", w.kind, w.name, w.selector, w.template.Labels)
		}
		for _, other := range m.workloads() {
			if other.name != w.name && selects(t, w.selector, other.template.Labels) {
				t.Errorf("%s %s: selector also selects the pods of %s", w.kind, w.name, other.name)
			}
		}
	}
	for _, svc := range all[*corev1.Service](m) {
		ws := m.selected(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		if len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(ws))
			continue
		}
		for _, p := range svc.Spec.Ports {
			if _, ok := podPort(ws[0].template.Spec, p.TargetPort); !ok {
				t.Errorf("Service %s port %s: target port %s is not a port of %s", svc.Name, p.Name, p.TargetPort.String(), ws[0].name)
			}
		}
	}
	for _, pdb := range all[*policyv1.PodDisruptionBudget](m) {
		ws := m.selected(t, pdb.Spec.Selector)
		if len(ws) != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d workloads, want 1", pdb.Name, len(ws))
			continue
		}
		// A budget must let a drain proceed with the minimum replica count.
		w := ws[0]
		var maxDown int32
		switch {
		case pdb.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(w.replicas), true)
			if err != nil {
				t.Fatal(err)
			}
			maxDown = w.replicas - int32(n)
		case pdb.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(w.replicas), false)
			if err != nil {
				t.Fatal(err)
			}
			maxDown = int32(n)
		}
		if maxDown < 1 {
			t.Errorf("PodDisruptionBudget %s allows no disruption of %s (%d replicas): node drains would block", pdb.Name, w.name, w.replicas)
		}
	}
	if pdb := named[*policyv1.PodDisruptionBudget](t, m, "nats"); pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("the NATS budget must keep a quorum of 2: %v", pdb.Spec.MinAvailable)
	}

	hpas := all[*autoscalingv2.HorizontalPodAutoscaler](m)
	if len(hpas) != 1 {
		t.Fatalf("%d HorizontalPodAutoscalers, want 1", len(hpas))
	}
	hpa := hpas[0]
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != "reprise-worker" {
		t.Errorf("HPA targets %s %s %s, want the worker Deployment", ref.APIVersion, ref.Kind, ref.Name)
	}
	if ptrOr(hpa.Spec.MinReplicas, 1) != 2 || hpa.Spec.MaxReplicas != 20 {
		t.Errorf("HPA scales %d to %d, want 2 to 20", ptrOr(hpa.Spec.MinReplicas, 1), hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		ptrOr(hpa.Spec.Metrics[0].Resource.Target.AverageUtilization, 0) != 70 {
		t.Errorf("HPA metrics %+v, want CPU at 70%%", hpa.Spec.Metrics)
	}
	worker := m.workload(t, "reprise-worker")
	if worker.replicas < ptrOr(hpa.Spec.MinReplicas, 1) || worker.replicas > hpa.Spec.MaxReplicas {
		t.Errorf("worker Deployment starts with %d replicas, outside the HPA's range", worker.replicas)
	}
	for _, c := range worker.template.Spec.Containers {
		// CPU utilization is relative to the request.
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			t.Errorf("worker container %s has no CPU request: the HPA cannot compute utilization", c.Name)
		}
	}

	for _, pm := range all[*podMonitor](m) {
		ws := m.selected(t, &pm.Spec.Selector)
		if len(ws) != 1 {
			t.Errorf("PodMonitor %s selects %d workloads, want 1", pm.Name, len(ws))
			continue
		}
		ann := ws[0].template.Annotations
		if ws[0].name == "nats" {
			// The exporter sidecar; NATS pods carry no scrape annotations.
			ann = map[string]string{"prometheus.io/port": "7777", "prometheus.io/path": "/metrics"}
		}
		if pm.Labels["release"] == "" {
			t.Errorf("PodMonitor %s has no release label (kube-prometheus-stack's default selector)", pm.Name)
		}
		if len(pm.Spec.PodMetricsEndpoints) == 0 {
			t.Errorf("PodMonitor %s has no endpoints", pm.Name)
		}
		for _, e := range pm.Spec.PodMetricsEndpoints {
			port, ok := podPort(ws[0].template.Spec, intstr.FromString(e.Port))
			if !ok {
				t.Errorf("PodMonitor %s: port %q is not a port of %s", pm.Name, e.Port, ws[0].name)
			}
			if ann["prometheus.io/port"] != itoa(port) || ann["prometheus.io/path"] != e.Path {
				t.Errorf("PodMonitor %s scrapes port %d path %s, the pod annotations say port %s path %s",
					pm.Name, port, e.Path, ann["prometheus.io/port"], ann["prometheus.io/path"])
			}
		}
	}
	var monitored []string
	for _, pm := range all[*podMonitor](m) {
		monitored = append(monitored, pm.Name)
	}
	sort.Strings(monitored)
	if !slices.Equal(monitored, []string{"nats", "reprise-orchestrator", "reprise-worker"}) {
		t.Errorf("PodMonitors %v, want one for the NATS exporter, the orchestrator and the worker", monitored)
	}

	for _, w := range m.workloads() {
		spec := w.template.Spec
		volumes := slices.Clone(w.claims)
		for _, v := range spec.Volumes {
			volumes = append(volumes, v.Name)
			if v.ConfigMap != nil {
				if _, ok := m.configMap(v.ConfigMap.Name); !ok {
					t.Errorf("%s: volume %s names ConfigMap %s, which is not declared", w.name, v.Name, v.ConfigMap.Name)
				}
			}
		}
		for _, c := range spec.Containers {
			for _, vm := range c.VolumeMounts {
				if !slices.Contains(volumes, vm.Name) {
					t.Errorf("%s/%s mounts volume %s, which is not declared", w.name, c.Name, vm.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					t.Errorf("%s/%s: envFrom other than a ConfigMap", w.name, c.Name)
					continue
				}
				if _, ok := m.configMap(ef.ConfigMapRef.Name); !ok {
					t.Errorf("%s/%s: envFrom names ConfigMap %s, which is not declared", w.name, c.Name, ef.ConfigMapRef.Name)
				}
			}
		}
	}
	for _, s := range m.workloads() {
		if s.kind != "StatefulSet" {
			continue
		}
		sts := named[*appsv1.StatefulSet](t, m, s.name)
		svc := named[*corev1.Service](t, m, sts.Spec.ServiceName)
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("StatefulSet %s: service %s is not headless", s.name, svc.Name)
		}
		if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, s.template.Labels) {
			t.Errorf("StatefulSet %s: headless service %s does not select its pods", s.name, svc.Name)
		}
	}
}

// TestPodSecurityAndResources: the restricted pod security standard, plus a
// read-only root filesystem, resource requests and limits, and the three
// probes on declared ports of every container.
func TestPodSecurityAndResources(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		spec := w.template.Spec
		psc := spec.SecurityContext
		if psc == nil || !ptrOr(psc.RunAsNonRoot, false) {
			t.Errorf("%s: pod does not set runAsNonRoot", w.name)
			continue
		}
		if ptrOr(psc.RunAsUser, 0) == 0 {
			t.Errorf("%s: pod runs as uid 0", w.name)
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod seccomp profile is not RuntimeDefault", w.name)
		}
		if len(w.claims) > 0 && psc.FSGroup == nil {
			t.Errorf("%s: persistent volumes but no fsGroup: the non-root process cannot write them", w.name)
		}
		if spec.TerminationGracePeriodSeconds == nil {
			t.Errorf("%s: no terminationGracePeriodSeconds", w.name)
		}
		if len(spec.InitContainers) > 0 {
			t.Errorf("%s: init containers are not checked here; add them to this test", w.name)
		}
		for _, c := range spec.Containers {
			where := w.name + "/" + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no security context", where)
				continue
			}
			if !ptrOr(sc.ReadOnlyRootFilesystem, false) {
				t.Errorf("%s: root filesystem is writable", where)
			}
			if ptrOr(sc.AllowPrivilegeEscalation, true) {
				t.Errorf("%s: privilege escalation allowed", where)
			}
			if ptrOr(sc.Privileged, false) {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v, want drop ALL and add none", where, sc.Capabilities)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				if where == "nats/nats" && r == corev1.ResourceCPU {
					// No CPU limit on NATS: throttling misses Raft heartbeats.
					if !okReq || okLim {
						t.Errorf("%s: CPU request %v, limit %v; want a request and no limit", where, okReq, okLim)
					}
					continue
				}
				if !okReq || !okLim {
					t.Errorf("%s: %s request or limit missing", where, r)
					continue
				}
				if req.Cmp(lim) > 0 {
					t.Errorf("%s: %s request %s above limit %s", where, r, req.String(), lim.String())
				}
			}
			if v := envValue(c, "GOMEMLIMIT"); v != "" {
				limit := c.Resources.Limits[corev1.ResourceMemory]
				soft := goMemLimit(t, v)
				if soft.Cmp(limit) >= 0 || soft.Value() < limit.Value()/2 {
					t.Errorf("%s: GOMEMLIMIT %s is not between half and all of the memory limit %s", where, v, limit.String())
				}
			}
			for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("%s: no HTTP %s probe", where, name)
					continue
				}
				if _, ok := podPort(spec, p.HTTPGet.Port); !ok {
					t.Errorf("%s: %s probe port %s is not a container port", where, name, p.HTTPGet.Port.String())
				}
			}
			for _, p := range c.Ports {
				if len(p.Name) == 0 || len(p.Name) > 15 {
					t.Errorf("%s: port %d needs a name of 1 to 15 characters", where, p.ContainerPort)
				}
			}
		}
	}
}

// goMemLimit parses a GOMEMLIMIT value (bytes, or a number with a
// B/KiB/MiB/GiB/TiB suffix).
func goMemLimit(t *testing.T, v string) resource.Quantity {
	t.Helper()
	for suffix, q := range map[string]string{"KiB": "Ki", "MiB": "Mi", "GiB": "Gi", "TiB": "Ti"} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			return resource.MustParse(n + q)
		}
	}
	q, err := resource.ParseQuantity(strings.TrimSuffix(v, "B"))
	if err != nil || strings.ContainsAny(v, "KMGTkmgt") {
		t.Fatalf("GOMEMLIMIT %q is not a value the Go runtime reads", v)
	}
	return q
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
