package k8s

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/reprise/reprise/services/metrics"
)

// renderOverlay renders deploy/overlays/<name> with kubectl (skipping the
// test without it) and returns its documents by kind.
func renderOverlay(t *testing.T, name string) map[string][][]byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", "../overlays/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize overlays/%s: %v\n%s", name, err, out)
	}
	docs, err := splitDocuments(out)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][][]byte{}
	for _, d := range docs {
		var tm struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(d, &tm); err != nil {
			t.Fatal(err)
		}
		byKind[tm.Kind] = append(byKind[tm.Kind], d)
	}
	return byKind
}

// TestOverlays renders each overlay over the base and checks what it adds:
// KEDA scales the workers on the activity consumer's backlog (and the base
// HPA is gone, KEDA owns one), the backlog HPA reads reprise_queue_depth
// of the activity queue, cert-manager issues nats-server-tls for the names
// and usages the servers need.
func TestOverlays(t *testing.T) {
	t.Run("keda", func(t *testing.T) {
		docs := renderOverlay(t, "keda")
		if len(docs["HorizontalPodAutoscaler"]) != 0 {
			t.Error("the KEDA overlay keeps the base HorizontalPodAutoscaler (KEDA makes its own)")
		}
		if len(docs["ScaledObject"]) != 1 {
			t.Fatalf("%d ScaledObjects, want 1", len(docs["ScaledObject"]))
		}
		var so struct {
			Spec struct {
				ScaleTargetRef struct {
					Name string `json:"name"`
				} `json:"scaleTargetRef"`
				MinReplicaCount int `json:"minReplicaCount"`
				MaxReplicaCount int `json:"maxReplicaCount"`
				Triggers        []struct {
					Type     string            `json:"type"`
					Metadata map[string]string `json:"metadata"`
				} `json:"triggers"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(docs["ScaledObject"][0], &so); err != nil {
			t.Fatal(err)
		}
		if so.Spec.ScaleTargetRef.Name != "reprise-worker" || so.Spec.MinReplicaCount < 1 || so.Spec.MaxReplicaCount <= so.Spec.MinReplicaCount {
			t.Errorf("ScaledObject targets %q with %d..%d replicas", so.Spec.ScaleTargetRef.Name, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
		}
		conf, _, _ := manifestNATSConf(t, loadManifests(t))
		found := false
		for _, tr := range so.Spec.Triggers {
			if tr.Type != "nats-jetstream" {
				continue
			}
			found = true
			md := tr.Metadata
			if md["stream"] != "reprise_work" || md["consumer"] != "reprise_w_activities" {
				t.Errorf("trigger reads stream %q consumer %q, want the work stream's activity consumer", md["stream"], md["consumer"])
			}
			if !strings.Contains(conf, "\n  "+md["account"]+" {") {
				t.Errorf("trigger account %q is not an account of nats.conf", md["account"])
			}
			if !strings.HasPrefix(md["natsServerMonitoringEndpoint"], "nats-headless.") || !strings.HasSuffix(md["natsServerMonitoringEndpoint"], ":8222") {
				t.Errorf("monitoring endpoint %q", md["natsServerMonitoringEndpoint"])
			}
		}
		if !found {
			t.Error("no nats-jetstream trigger")
		}
	})
	t.Run("backlog-hpa", func(t *testing.T) {
		docs := renderOverlay(t, "backlog-hpa")
		if len(docs["HorizontalPodAutoscaler"]) != 1 {
			t.Fatalf("%d HPAs, want 1", len(docs["HorizontalPodAutoscaler"]))
		}
		obj, _, err := decodeDocument(docs["HorizontalPodAutoscaler"][0])
		if err != nil {
			t.Fatal(err)
		}
		hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler)
		external := false
		for _, m := range hpa.Spec.Metrics {
			if m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil {
				external = slices.Contains(metrics.Names(), m.External.Metric.Name) &&
					m.External.Metric.Selector != nil && m.External.Metric.Selector.MatchLabels["queue"] == "activities"
			}
		}
		if !external {
			t.Errorf("the HPA has no external metric over reprise_queue_depth{queue=activities}: %+v", hpa.Spec.Metrics)
		}
	})
	t.Run("cert-manager", func(t *testing.T) {
		docs := renderOverlay(t, "cert-manager")
		var server bool
		for _, d := range docs["Certificate"] {
			var c struct {
				Spec struct {
					SecretName string   `json:"secretName"`
					DNSNames   []string `json:"dnsNames"`
					Usages     []string `json:"usages"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(d, &c); err != nil {
				t.Fatal(err)
			}
			if c.Spec.SecretName != natsTLSSecret {
				continue
			}
			server = true
			for _, n := range []string{"nats", "*.nats-headless"} {
				if !slices.Contains(c.Spec.DNSNames, n) {
					t.Errorf("certificate %s lacks the name %s", natsTLSSecret, n)
				}
			}
			for _, u := range []string{"server auth", "client auth"} {
				if !slices.Contains(c.Spec.Usages, u) {
					t.Errorf("certificate %s lacks the usage %s (routes verify each other)", natsTLSSecret, u)
				}
			}
		}
		if !server {
			t.Errorf("no Certificate for the Secret %s", natsTLSSecret)
		}
	})
}
