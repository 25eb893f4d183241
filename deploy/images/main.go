// Command images builds the container images of Reprise's services without
// Docker or any image registry: it compiles a service as a static binary
// (CGO_ENABLED=0) and writes an image tarball whose only layer holds that
// binary on an empty base (no shell, no package manager), run as the
// non-root user 65532 and labelled with the OCI annotations. The tarball is
// what `docker save` writes: load it with `docker load`, `podman load`,
// `kind load image-archive` or `ctr images import`, or push it with
// `crane push`.
//
// `make images` runs it for the orchestrator and the worker. Users build
// their own orchestrator (their own registry of orchestrations, see
// services/host) the same way:
//
//	go run github.com/reprise/reprise/deploy/images -main ./cmd/my-orchestrator \
//	    -image registry.example.com/my-orchestrator:1.0.0 -out my-orchestrator.tar
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image facts the manifests rely on.
const (
	// UID and GID of the image's user (the nonroot user of distroless).
	UID = 65532
	GID = 65532
	// BinDir holds the service binary.
	BinDir = "/usr/local/bin"
	// Home is the working directory: the default data directory ./data is
	// relative to it.
	Home = "/home/nonroot"
)

// Options describe one image.
type Options struct {
	// Main is the Go main package to build (e.g. ./services/worker), as go
	// build takes it, relative to Dir.
	Main string
	// Dir is the directory go build runs in (the module's).
	Dir string
	// Image is the reference the tarball is tagged with
	// (e.g. reprise/worker:0.1.0).
	Image string
	// Out is the tarball written.
	Out string
	// Binary is the file name of the binary in BinDir (default: the base
	// name of Main, prefixed with reprise- when it is not already).
	Binary string
	// Arch is the target architecture (default: GOARCH, else this machine's).
	Arch string
	// Port is the exposed port (/metrics, /healthz, /readyz), 9090 by default.
	Port int
	// Labels are added to the OCI labels the image always carries.
	Labels map[string]string
	// Created is the creation time recorded (default: the Unix epoch, so
	// that the same binary gives the same image).
	Created time.Time
}

func main() {
	var o Options
	var source, revision, version string
	flag.StringVar(&o.Main, "main", "", "Go main package to build, e.g. ./services/worker (required)")
	flag.StringVar(&o.Dir, "dir", ".", "directory to run go build in")
	flag.StringVar(&o.Image, "image", "", "image reference to tag the tarball with, e.g. reprise/worker:0.1.0 (required)")
	flag.StringVar(&o.Out, "out", "", "tarball to write (required)")
	flag.StringVar(&o.Binary, "binary", "", "binary name in "+BinDir+" (default reprise-<base of -main>)")
	flag.StringVar(&o.Arch, "arch", "", "target architecture (default $GOARCH or this machine's)")
	flag.IntVar(&o.Port, "port", 9090, "exposed port")
	flag.StringVar(&source, "source", "https://github.com/reprise/reprise", "org.opencontainers.image.source label")
	flag.StringVar(&revision, "revision", "", "org.opencontainers.image.revision label (e.g. the git commit)")
	flag.StringVar(&version, "version", "", "org.opencontainers.image.version label (default: the image tag)")
	flag.Parse()
	if o.Main == "" || o.Image == "" || o.Out == "" {
		fmt.Fprintln(os.Stderr, "images: -main, -image and -out are required")
		flag.Usage()
		os.Exit(2)
	}
	o.Labels = map[string]string{"org.opencontainers.image.source": source}
	if revision != "" {
		o.Labels["org.opencontainers.image.revision"] = revision
	}
	if version != "" {
		o.Labels["org.opencontainers.image.version"] = version
	}
	if err := Build(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	fmt.Println(o.Out)
}

// Build compiles o.Main and writes its image tarball to o.Out.
func Build(ctx context.Context, o Options) error {
	ref, err := name.NewTag(o.Image)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", o.Image, err)
	}
	if o.Binary == "" {
		o.Binary = path.Base(o.Main)
		if len(o.Binary) < 8 || o.Binary[:8] != "reprise-" {
			o.Binary = "reprise-" + o.Binary
		}
	}
	if o.Arch == "" {
		o.Arch = os.Getenv("GOARCH")
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Port == 0 {
		o.Port = 9090
	}
	tmp, err := os.MkdirTemp("", "reprise-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, o.Binary)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, o.Main)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", o.Main, err, out)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	layerData, err := rootFS(path.Join(BinDir, o.Binary), binData, o.Created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":     ref.RepositoryStr(),
		"org.opencontainers.image.version":   ref.TagStr(),
		"org.opencontainers.image.licenses":  "Apache-2.0",
		"org.opencontainers.image.base.name": "scratch",
	}
	for k, v := range o.Labels {
		labels[k] = v
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		Entrypoint:   []string{path.Join(BinDir, o.Binary)},
		User:         fmt.Sprintf("%d:%d", UID, GID),
		WorkingDir:   Home,
		Env:          []string{"PATH=/usr/local/bin", "HOME=" + Home},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", o.Port): {}},
		Labels:       labels,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(o.Out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	return nil
}

// rootFS is the image's one layer: the user and group files, a writable
// home and /tmp, and the binary.
func rootFS(binPath string, bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, Home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	err := errors.Join(
		dir("etc", 0o755, 0),
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		dir("home", 0o755, 0),
		dir(Home[1:], 0o700, UID),
		dir("tmp", 0o1777, 0),
		dir("usr", 0o755, 0),
		dir("usr/local", 0o755, 0),
		dir(BinDir[1:], 0o755, 0),
		file(binPath[1:], 0o755, bin),
		tw.Close(),
	)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}
