// Package k8s holds the Kubernetes manifests of Reprise (applied with
// `kubectl apply -k deploy/k8s`) and the tests that parse them strictly into
// typed objects and cross-check them against what the services really serve
// and read.
package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// namespace is where the kustomization puts everything.
const namespace = "reprise"

// kustomization is the subset of kustomize's Kustomization these manifests
// use. It is decoded strictly: a field it does not list fails the tests, so
// a new kustomize feature gets a deliberate look here.
type kustomization struct {
	APIVersion         string               `json:"apiVersion"`
	Kind               string               `json:"kind"`
	Namespace          string               `json:"namespace"`
	Resources          []string             `json:"resources"`
	ConfigMapGenerator []configMapGenerator `json:"configMapGenerator"`
	Images             []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

type configMapGenerator struct {
	Name    string   `json:"name"`
	Files   []string `json:"files"`
	Options struct {
		Labels                map[string]string `json:"labels"`
		DisableNameSuffixHash bool              `json:"disableNameSuffixHash"`
	} `json:"options"`
}

// podMonitor is the part of the Prometheus Operator's PodMonitor (a CRD, not
// in the client-go scheme) these manifests may use, decoded strictly.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// object is one decoded manifest document.
type object struct {
	file string
	gvk  string // e.g. "apps/v1, Kind=StatefulSet"
	obj  any    // a typed k8s object or *podMonitor
}

// manifests is everything deploy/k8s declares.
type manifests struct {
	dir     string
	kust    kustomization
	objects []object
	// generated holds the ConfigMaps of configMapGenerator, by name, with
	// their files' contents as data.
	generated map[string]*corev1.ConfigMap
}

// strictDecoder decodes YAML into the client-go scheme's typed objects and
// fails on unknown or duplicate fields.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeDocument decodes one YAML document strictly.
func decodeDocument(doc []byte) (any, string, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, "", err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, "", errors.New("document has no apiVersion or kind")
	}
	if tm.GroupVersionKind().Group == "monitoring.coreos.com" && tm.Kind == "PrometheusRule" {
		var pr prometheusRule
		if err := yaml.UnmarshalStrict(doc, &pr); err != nil {
			return nil, "", err
		}
		return &pr, tm.GroupVersionKind().String(), nil
	}
	if tm.GroupVersionKind().Group == "monitoring.coreos.com" {
		if tm.Kind != "PodMonitor" {
			return nil, "", fmt.Errorf("%s: only PodMonitor and PrometheusRule are checked", tm.Kind)
		}
		var pm podMonitor
		if err := yaml.UnmarshalStrict(doc, &pm); err != nil {
			return nil, "", err
		}
		return &pm, tm.GroupVersionKind().String(), nil
	}
	obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
	if err != nil {
		return nil, "", err
	}
	return obj, gvk.String(), nil
}

// splitDocuments splits a multi-document YAML file, dropping documents that
// hold only comments.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if probe != nil {
			docs = append(docs, doc)
		}
	}
}

// loadManifests reads the kustomization and decodes every file it lists.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	dir := "."
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{dir: dir, generated: map[string]*corev1.ConfigMap{}}
	if err := yaml.UnmarshalStrict(data, &m.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, f := range m.kust.Resources {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("resource %s: %v", f, err)
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(docs) == 0 {
			t.Fatalf("%s: no objects", f)
		}
		for i, doc := range docs {
			obj, gvk, err := decodeDocument(doc)
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i+1, err)
			}
			m.objects = append(m.objects, object{file: f, gvk: gvk, obj: obj})
		}
	}
	for _, g := range m.kust.ConfigMapGenerator {
		cm := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name, Labels: g.Options.Labels},
			Data:       map[string]string{},
		}
		for _, f := range g.Files {
			key, path := generatorFile(f)
			data, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				t.Fatalf("configMapGenerator %s: %v", g.Name, err)
			}
			cm.Data[key] = string(data)
		}
		m.generated[g.Name] = cm
	}
	return m
}

// generatorFile splits a configMapGenerator file entry "key=path" (or
// "path", keyed by its base name).
func generatorFile(entry string) (key, path string) {
	if k, p, ok := strings.Cut(entry, "="); ok {
		return k, p
	}
	return filepath.Base(entry), entry
}

// all returns the objects of type T.
func all[T any](m *manifests) []T {
	var out []T
	for _, o := range m.objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// named returns the object of type T with the given name, failing the test
// if there is none.
func named[T interface{ GetName() string }](t *testing.T, m *manifests, name string) T {
	t.Helper()
	for _, v := range all[T](m) {
		if v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q in the manifests", zero, name)
	return zero
}

// configMap returns a ConfigMap declared as a manifest or generated.
func (m *manifests) configMap(name string) (*corev1.ConfigMap, bool) {
	for _, cm := range all[*corev1.ConfigMap](m) {
		if cm.Name == name {
			return cm, true
		}
	}
	cm, ok := m.generated[name]
	return cm, ok
}

// workload is a pod-running object: its kind, name and pod template.
type workload struct {
	kind, name string
	replicas   int32
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
	// claims are the StatefulSet's volume claim templates' names.
	claims []string
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, s := range all[*appsv1.StatefulSet](m) {
		w := workload{kind: "StatefulSet", name: s.Name, replicas: ptrOr(s.Spec.Replicas, 1), selector: s.Spec.Selector, template: s.Spec.Template}
		for _, c := range s.Spec.VolumeClaimTemplates {
			w.claims = append(w.claims, c.Name)
		}
		out = append(out, w)
	}
	for _, d := range all[*appsv1.Deployment](m) {
		out = append(out, workload{kind: "Deployment", name: d.Name, replicas: ptrOr(d.Spec.Replicas, 1), selector: d.Spec.Selector, template: d.Spec.Template})
	}
	return out
}

func (m *manifests) workload(t *testing.T, name string) workload {
	t.Helper()
	for _, w := range m.workloads() {
		if w.name == name {
			return w
		}
	}
	t.Fatalf("no workload %q", name)
	return workload{}
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// kinds lists the typed kinds the manifests may hold; the decoder accepts
// any kind of the scheme, this keeps surprises out.
var kinds = []string{
	"/v1, Kind=Namespace", "/v1, Kind=ConfigMap", "/v1, Kind=Service",
	"apps/v1, Kind=StatefulSet", "apps/v1, Kind=Deployment",
	"policy/v1, Kind=PodDisruptionBudget", "autoscaling/v2, Kind=HorizontalPodAutoscaler",
	"monitoring.coreos.com/v1, Kind=PodMonitor", "monitoring.coreos.com/v1, Kind=PrometheusRule",
	"scheduling.k8s.io/v1, Kind=PriorityClass", "networking.k8s.io/v1, Kind=NetworkPolicy",
}
