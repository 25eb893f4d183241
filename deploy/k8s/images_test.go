package k8s

import (
	"bytes"
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/reprise/reprise/services/host"
)

// repoRoot is the repository root, from deploy/k8s.
const repoRoot = "../.."

// imageUID is the user the images run as (deploy/images: UID, GID).
const imageUID = 65532

// TestImagesAndVersionsArePinned: the Makefile's images target builds each
// service's image with deploy/images, tagged with VERSION; the kustomization
// pins the Reprise images to that tag; the NATS image is the nats-server
// version of go.mod (the one every test runs) and every other image has an
// exact version tag; the pods run as the images' user and expose the
// metrics port the images declare.
func TestImagesAndVersionsArePinned(t *testing.T) {
	m := loadManifests(t)
	version, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(version))
	if !exactVersion.MatchString(v) {
		t.Fatalf("VERSION %q is not an exact version", v)
	}
	_, defPort, err := net.SplitHostPort(host.DefaultMetricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		svc := strings.TrimPrefix(s.image, "reprise/")
		dir := filepath.Join(repoRoot, "services", svc)
		if f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "main.go"), nil, parser.PackageClauseOnly); err != nil || f.Name.Name != "main" {
			t.Errorf("%s is not a main package: %v", dir, err)
		}
		pinned := false
		for _, img := range m.kust.Images {
			if img.Name == s.image {
				pinned = img.NewTag == v
				if !pinned {
					t.Errorf("kustomization pins %s to %q, want VERSION %s", s.image, img.NewTag, v)
				}
			}
		}
		if !pinned {
			t.Errorf("kustomization does not pin %s to VERSION %s", s.image, v)
		}
		w := m.workload(t, s.workload)
		c := serviceContainer(t, w, s)
		if uid := ptrOr(w.template.Spec.SecurityContext.RunAsUser, 0); uid != imageUID {
			t.Errorf("%s: pod runs as uid %d, the image as %d", s.workload, uid, imageUID)
		}
		if p, ok := containerPort(c, "metrics"); !ok || strconv.Itoa(int(p)) != defPort {
			t.Errorf("%s: metrics port %d, the image exposes %s", s.workload, p, defPort)
		}
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkImagesTarget(mk) {
		t.Error(p)
	}

	// The NATS image runs the nats-server version the tests run (go.mod's).
	want := natsImage()
	nats := m.workload(t, "nats")
	var images []string
	for _, w := range m.workloads() {
		for _, c := range append(w.template.Spec.InitContainers, w.template.Spec.Containers...) {
			images = append(images, c.Image)
			if w.name == "nats" && c.Name == "nats" && c.Image != want {
				t.Errorf("nats runs %s; go.mod's nats-server is %s: pin the image to it", c.Image, want)
			}
			name, tag, ok := strings.Cut(c.Image, ":")
			if !ok || !exactVersion.MatchString(tag) || strings.Contains(name, "@") {
				t.Errorf("%s/%s: image %s has no exact version tag", w.name, c.Name, c.Image)
			}
		}
	}
	if len(nats.template.Spec.Containers) == 0 {
		t.Fatal("no nats container")
	}
	t.Logf("images: %v", images)
}

// exactVersion is a tag naming one release (1.2.3, optionally with a
// suffix such as -alpine), not a moving one (latest, 2.12, dev).
var exactVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$`)

// natsImage is the NATS image of the nats-server version in go.mod: the
// one this test binary, and every test, runs.
func natsImage() string { return "nats:" + server.VERSION + "-alpine" }

// checkImagesTarget finds the Makefile's images target and lists what it
// fails to build: each service's image, from its main package, by
// deploy/images, tagged $(IMAGE_PREFIX)/<service>:$(IMAGE_TAG) with
// IMAGE_TAG defaulting to VERSION.
func checkImagesTarget(mk []byte) (problems []string) {
	target := regexp.MustCompile(`(?ms)^images:.*?(?:\n\n|\z)`).Find(mk)
	if target == nil {
		return []string{"the Makefile has no images target"}
	}
	if !regexp.MustCompile(`(?m)^IMAGE_TAG\s*\?=\s*\$\(VERSION\)$`).Match(mk) || !bytes.Contains(mk, []byte("VERSION       := $(shell cat VERSION)")) {
		problems = append(problems, "the Makefile's IMAGE_TAG does not default to VERSION")
	}
	for _, s := range services {
		svc := strings.TrimPrefix(s.image, "reprise/")
		if !bytes.Contains(target, []byte("./deploy/images -main ./services/"+svc+" ")) ||
			!bytes.Contains(target, []byte("-image $(IMAGE_PREFIX)/"+svc+":$(IMAGE_TAG)")) {
			problems = append(problems, fmt.Sprintf("make images does not build %s from ./services/%s with deploy/images:\n%s", s.image, svc, target))
		}
	}
	return problems
}

func TestCheckImagesTarget(t *testing.T) {
	head := "VERSION       := $(shell cat VERSION)\nIMAGE_TAG     ?= $(VERSION)\n"
	good := head + "images:\n\t$(GO) run ./deploy/images -main ./services/orchestrator -image $(IMAGE_PREFIX)/orchestrator:$(IMAGE_TAG) -out x\n" +
		"\t$(GO) run ./deploy/images -main ./services/worker -image $(IMAGE_PREFIX)/worker:$(IMAGE_TAG) -out y\n\nclean:\n\trm -rf x\n"
	if p := checkImagesTarget([]byte(good)); len(p) != 0 {
		t.Errorf("good target: %v", p)
	}
	bad := head + "images:\n\t$(GO) run ./deploy/images -main ./services/orchestrator -image $(IMAGE_PREFIX)/orchestrator:$(IMAGE_TAG) -out x\n\nworker:\n\tdocker build .\n"
	if p := checkImagesTarget([]byte(bad)); len(p) != 1 {
		t.Errorf("target missing the worker: %v", p)
	}
	if p := checkImagesTarget([]byte(strings.Replace(good, "?= $(VERSION)", "?= dev", 1))); len(p) != 1 {
		t.Errorf("floating tag: %v", p)
	}
	if p := checkImagesTarget([]byte("build:\n\tgo build ./...\n")); len(p) == 0 {
		t.Error("found an images target in a Makefile without one")
	}
	for tag, ok := range map[string]bool{"2.15.2-alpine": true, "0.1.0": true, "v0.17.3": true, "2.12-alpine": false, "dev": false, "latest": false, "1.26": false} {
		if exactVersion.MatchString(tag) != ok {
			t.Errorf("exactVersion(%q) = %v", tag, !ok)
		}
	}
}

// TestKustomizeBuild renders the kustomization with kubectl (when it is
// installed) and decodes the output strictly: the generated ConfigMaps are
// typed objects too, everything lands in the namespace, and the NATS
// StatefulSet mounts the hashed nats-config ConfigMap.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; the static checks above still ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	m := loadManifests(t)
	docs, err := splitDocuments(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(m.objects) + len(m.generated); len(docs) != want {
		t.Errorf("kustomize rendered %d objects, want %d", len(docs), want)
	}
	var natsConfig string
	var natsSts []byte
	for _, doc := range docs {
		obj, gvk, err := decodeDocument(doc)
		if err != nil {
			t.Fatalf("rendered %s: %v", doc, err)
		}
		meta := obj.(metav1.Object)
		clusterScoped := gvk == "/v1, Kind=Namespace" || gvk == "scheduling.k8s.io/v1, Kind=PriorityClass"
		if !clusterScoped && meta.GetNamespace() != namespace {
			t.Errorf("%s %s rendered in namespace %q", gvk, meta.GetName(), meta.GetNamespace())
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			if strings.HasPrefix(cm.Name, "nats-config-") {
				natsConfig = cm.Name
			}
			if cm.Name == dashboardConfigMap && cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("rendered dashboard ConfigMap labels %v", cm.Labels)
			}
		}
		if gvk == "apps/v1, Kind=StatefulSet" && meta.GetName() == "nats" {
			natsSts = doc
		}
	}
	if natsConfig == "" || !bytes.Contains(natsSts, []byte("name: "+natsConfig+"\n")) {
		t.Errorf("the NATS StatefulSet does not mount the generated ConfigMap %q", natsConfig)
	}
	version, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(version))
	for _, img := range []string{"reprise/orchestrator:" + v, "reprise/worker:" + v, natsImage()} {
		if !bytes.Contains(out, []byte("image: "+img+"\n")) {
			t.Errorf("rendered manifests do not run %s", img)
		}
	}
}
