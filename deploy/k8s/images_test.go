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
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/reprise/reprise/services/host"
)

// repoRoot is the repository root, from deploy/k8s.
const repoRoot = "../.."

// dockerfile is a Dockerfile's instructions, continuation lines joined.
func dockerfile(t *testing.T, path string) [][2]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		instr, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// TestDockerfiles: each service's Dockerfile builds that service as a
// static, trimmed binary in golang:1.26 and runs it from distroless static
// as uid 65532, exposing the metrics port the manifests use.
func TestDockerfiles(t *testing.T) {
	m := loadManifests(t)
	_, defPort, err := net.SplitHostPort(host.DefaultMetricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		svc := strings.TrimPrefix(s.image, "reprise/")
		dir := filepath.Join(repoRoot, "services", svc)
		// The directory is the service's main package.
		if f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "main.go"), nil, parser.PackageClauseOnly); err != nil || f.Name.Name != "main" {
			t.Errorf("%s is not a main package: %v", dir, err)
		}
		instrs := dockerfile(t, filepath.Join(dir, "Dockerfile"))
		var froms, exposes []string
		var user, entrypoint, build, copyDest string
		for _, in := range instrs {
			switch in[0] {
			case "FROM":
				froms = append(froms, in[1])
			case "USER":
				user = in[1]
			case "EXPOSE":
				exposes = append(exposes, strings.Fields(in[1])...)
			case "ENTRYPOINT":
				entrypoint = in[1]
			case "RUN":
				if strings.Contains(in[1], "go build") {
					build = in[1]
				}
			case "COPY":
				if strings.HasPrefix(in[1], "--from=") {
					f := strings.Fields(in[1])
					copyDest = f[len(f)-1]
				}
			}
		}
		where := s.image + " Dockerfile"
		if len(froms) != 2 || !strings.Contains(froms[0], "golang:1.26 ") || !strings.HasSuffix(froms[0], " AS build") ||
			froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
			t.Errorf("%s: stages %q, want a golang:1.26 build stage and gcr.io/distroless/static-debian12:nonroot", where, froms)
		}
		if user != "65532:65532" && user != "65532" {
			t.Errorf("%s: USER %q, want 65532", where, user)
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./services/" + svc} {
			if !strings.Contains(build, want) {
				t.Errorf("%s: go build %q lacks %s", where, build, want)
			}
		}
		if !slices.Contains(exposes, defPort) {
			t.Errorf("%s: EXPOSE %v lacks the metrics port %s", where, exposes, defPort)
		}
		if entrypoint != `["`+copyDest+`"]` {
			t.Errorf("%s: ENTRYPOINT %s does not run the copied binary %s", where, entrypoint, copyDest)
		}
		// The manifests run this image, as the same user.
		w := m.workload(t, s.workload)
		serviceContainer(t, w, s)
		if uid := ptrOr(w.template.Spec.SecurityContext.RunAsUser, 0); uid != 65532 {
			t.Errorf("%s: pod runs as uid %d, the image as 65532", s.workload, uid)
		}
	}

	// make images, once the Makefile has it, builds the images the
	// manifests run.
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if problems, ok := checkImagesTarget(mk); ok {
		for _, p := range problems {
			t.Error(p)
		}
	} else {
		t.Log("the Makefile has no images target yet")
	}
}

// checkImagesTarget finds the Makefile's images target and lists what it
// fails to build; ok is false when there is no such target.
func checkImagesTarget(mk []byte) (problems []string, ok bool) {
	target := regexp.MustCompile(`(?ms)^images:.*?(?:\n\n|\z)`).Find(mk)
	if target == nil {
		return nil, false
	}
	for _, s := range services {
		svc := strings.TrimPrefix(s.image, "reprise/")
		if !bytes.Contains(target, []byte("-f services/"+svc+"/Dockerfile")) || !bytes.Contains(target, []byte("/"+svc+":")) {
			problems = append(problems, fmt.Sprintf("make images does not build %s from services/%s/Dockerfile:\n%s", s.image, svc, target))
		}
	}
	return problems, true
}

func TestCheckImagesTarget(t *testing.T) {
	good := "x:\n\ty\n\nimages:\n\t$(DOCKER) build -f services/orchestrator/Dockerfile -t $(IMAGE_PREFIX)/orchestrator:$(IMAGE_TAG) .\n\t$(DOCKER) build -f services/worker/Dockerfile -t $(IMAGE_PREFIX)/worker:$(IMAGE_TAG) .\n\nclean:\n\trm -rf x\n"
	if p, ok := checkImagesTarget([]byte(good)); !ok || len(p) != 0 {
		t.Errorf("good target: %v %v", ok, p)
	}
	bad := "images:\n\tdocker build -f services/orchestrator/Dockerfile -t reprise/orchestrator:dev .\n\nworker:\n\tdocker build -f services/worker/Dockerfile -t reprise/worker:dev .\n"
	if p, ok := checkImagesTarget([]byte(bad)); !ok || len(p) != 1 {
		t.Errorf("target missing the worker: %v %v", ok, p)
	}
	if _, ok := checkImagesTarget([]byte("build:\n\tgo build ./...\n")); ok {
		t.Error("found an images target in a Makefile without one")
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
		if gvk != "/v1, Kind=Namespace" && meta.GetNamespace() != namespace {
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
	for _, img := range []string{"reprise/orchestrator:dev", "reprise/worker:dev", "nats:2.12-alpine"} {
		if !bytes.Contains(out, []byte("image: "+img+"\n")) {
			t.Errorf("rendered manifests do not run %s", img)
		}
	}
}
