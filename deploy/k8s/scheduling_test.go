package k8s

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

// TestScheduling: NATS servers never share a node (two on one node lose
// the quorum with it), orchestrators spread over nodes, every Reprise pod
// has the declared PriorityClass, and NetworkPolicies deny ingress by
// default and open the NATS ports only as documented.
func TestScheduling(t *testing.T) {
	m := loadManifests(t)
	pcs := all[*schedulingv1.PriorityClass](m)
	if len(pcs) != 1 || pcs[0].Value <= 0 || pcs[0].GlobalDefault {
		t.Fatalf("want one non-default PriorityClass with a positive value, have %d", len(pcs))
	}
	spread := func(w workload) map[string]corev1.UnsatisfiableConstraintAction {
		out := map[string]corev1.UnsatisfiableConstraintAction{}
		for _, c := range w.template.Spec.TopologySpreadConstraints {
			if c.LabelSelector != nil && selects(t, c.LabelSelector, w.template.Labels) && c.MaxSkew == 1 {
				out[c.TopologyKey] = c.WhenUnsatisfiable
			}
		}
		return out
	}
	for _, w := range m.workloads() {
		if w.template.Spec.PriorityClassName != pcs[0].Name {
			t.Errorf("%s: priority class %q, want %q", w.name, w.template.Spec.PriorityClassName, pcs[0].Name)
		}
	}
	if got := spread(m.workload(t, "nats"))["kubernetes.io/hostname"]; got != corev1.DoNotSchedule {
		t.Errorf("nats spread over nodes: %q, want DoNotSchedule", got)
	}
	if _, ok := spread(m.workload(t, "reprise-orchestrator"))["kubernetes.io/hostname"]; !ok {
		t.Error("orchestrators are not spread over nodes")
	}

	nps := all[*networkingv1.NetworkPolicy](m)
	var denyAll, natsPolicy *networkingv1.NetworkPolicy
	for _, np := range nps {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 && len(np.Spec.Ingress) == 0 {
			denyAll = np
		}
		if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "nats" {
			natsPolicy = np
		}
	}
	if denyAll == nil {
		t.Error("no default-deny ingress NetworkPolicy")
	}
	if natsPolicy == nil {
		t.Fatal("no NetworkPolicy for the NATS pods")
	}
	nats := m.workload(t, "nats")
	for _, rule := range natsPolicy.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil {
				t.Errorf("nats policy opens every port")
				continue
			}
			if _, ok := podPort(nats.template.Spec, *p.Port); !ok {
				t.Errorf("nats policy names port %s, not a port of the NATS pods", p.Port.String())
			}
			if p.Port.String() == "cluster" {
				for _, peer := range rule.From {
					if peer.PodSelector == nil || peer.NamespaceSelector != nil || !selects(t, peer.PodSelector, nats.template.Labels) ||
						len(m.selected(t, peer.PodSelector)) != 1 {
						t.Errorf("the route port is open to more than the NATS servers: %+v", peer)
					}
				}
			}
		}
	}
}
