package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImages builds the orchestrator and worker images as `make images`
// does, loads each tarball back, and checks what a container runtime would
// run: the entrypoint is the static service binary, the user is non-root,
// the OCI labels are set, and the binary itself runs (--help).
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	for _, svc := range []string{"orchestrator", "worker"} {
		t.Run(svc, func(t *testing.T) {
			ref := "reprise/" + svc + ":0.0.0-test"
			out := filepath.Join(dir, svc+".tar")
			err := Build(context.Background(), Options{Main: "./services/" + svc, Dir: "../..", Image: ref, Out: out,
				Labels: map[string]string{"org.opencontainers.image.revision": "abc123"}})
			if err != nil {
				t.Fatal(err)
			}
			tag, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(out, &tag)
			if err != nil {
				t.Fatalf("load %s as %s: %v", out, ref, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			bin := "/usr/local/bin/reprise-" + svc
			c := cf.Config
			if len(c.Entrypoint) != 1 || c.Entrypoint[0] != bin {
				t.Errorf("entrypoint %q, want [%s]", c.Entrypoint, bin)
			}
			if c.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
			}
			if _, ok := c.ExposedPorts["9090/tcp"]; !ok {
				t.Errorf("exposed ports %v lack 9090/tcp (metrics and probes)", c.ExposedPorts)
			}
			if cf.OS != "linux" || cf.Architecture == "" {
				t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
			}
			for k, want := range map[string]string{
				"org.opencontainers.image.title":     "reprise/" + svc,
				"org.opencontainers.image.version":   "0.0.0-test",
				"org.opencontainers.image.revision":  "abc123",
				"org.opencontainers.image.base.name": "scratch",
			} {
				if got := c.Labels[k]; got != want {
					t.Errorf("label %s = %q, want %q", k, got, want)
				}
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("%d layers (%v), want one on an empty base", len(layers), err)
			}

			files := extract(t, img)
			if !strings.Contains(string(files["etc/passwd"].data), ":65532:65532:") {
				t.Errorf("/etc/passwd has no user 65532:\n%s", files["etc/passwd"].data)
			}
			if h := files["home/nonroot"].hdr; h == nil || h.Uid != 65532 {
				t.Errorf("the home directory (working directory %s) is not owned by 65532", c.WorkingDir)
			}
			f := files[bin[1:]]
			if f.hdr == nil || f.hdr.Mode&0o111 == 0 {
				t.Fatalf("%s is missing or not executable", bin)
			}
			// Static: no dynamic loader, so it runs on the empty base.
			e, err := elf.NewFile(bytes.NewReader(f.data))
			if err != nil {
				t.Fatalf("%s is not an ELF binary: %v", bin, err)
			}
			for _, p := range e.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked (has an interpreter)", bin)
				}
			}
			if cf.Architecture != runtimeArch() {
				t.Skipf("image for %s: not running it here", cf.Architecture)
			}
			exe := filepath.Join(t.TempDir(), filepath.Base(bin))
			if err := os.WriteFile(exe, f.data, 0o755); err != nil {
				t.Fatal(err)
			}
			outp, err := exec.Command(exe, "--help").CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatalf("%s --help: %v\n%s", bin, err, outp)
			}
			for _, flag := range []string{"-nats-url", "-metrics-addr", "-nats-nkey"} {
				if !strings.Contains(string(outp), flag) {
					t.Errorf("%s --help does not list %s:\n%s", bin, flag, outp)
				}
			}
		})
	}
}

type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// extract reads the image's flattened file system.
func extract(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read image file system: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.Trim(h.Name, "/")] = layerFile{hdr: h, data: data}
	}
}

// runtimeArch is the architecture binaries built here run on.
func runtimeArch() string { return runtime.GOARCH }
