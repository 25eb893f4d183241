package k8s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	corev1 "k8s.io/api/core/v1"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// natsSecrets are the Secrets the NATS pods read: the servers' TLS
// certificate (cert-manager's tls.crt, tls.key, ca.crt) and the NKey
// public keys of the users.
const (
	natsTLSSecret  = "nats-server-tls"
	natsNKeySecret = "nats-nkeys"
)

// natsUsers maps the nats.conf variables holding the users' public NKeys
// to the key of the nats-nkeys Secret that holds each.
var natsUsers = map[string]string{
	"REPRISE_ORCHESTRATOR_NKEY": "orchestrator.pub",
	"REPRISE_WORKER_NKEY":       "worker.pub",
	"REPRISE_CLIENT_NKEY":       "client.pub",
	"NATS_SYSTEM_NKEY":          "system.pub",
}

// manifestNATSConf returns the nats.conf of the ConfigMap the NATS
// container mounts, and the container.
func manifestNATSConf(t *testing.T, m *manifests) (string, corev1.Container, workload) {
	t.Helper()
	w := m.workload(t, "nats")
	var c corev1.Container
	for _, cc := range w.template.Spec.Containers {
		if cc.Name == "nats" {
			c = cc
		}
	}
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("nats args %q have no --config", c.Args)
	}
	confPath := c.Args[i+1]
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
				if conf := cm.Data[path.Base(confPath)]; conf != "" {
					return conf, c, w
				}
			}
		}
	}
	t.Fatalf("%s is not a file of a mounted ConfigMap", confPath)
	return "", c, w
}

// secretMount returns where the container mounts the Secret.
func secretMount(t *testing.T, w workload, c corev1.Container, secret string) string {
	t.Helper()
	for _, v := range w.template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != secret {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == v.Name {
				return vm.MountPath
			}
		}
	}
	t.Fatalf("%s does not mount the Secret %s", c.Name, secret)
	return ""
}

// testPKI is a CA and a certificate for the NATS servers, signed by it,
// valid for the in-cluster names and for 127.0.0.1, for server and client
// use (routes verify each other).
type testPKI struct{ dir, ca, cert, key string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "reprise-nats-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames:    []string{"localhost", "nats", "nats.reprise.svc", "*.nats-headless", "*.nats-headless.reprise.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{dir: dir, ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	for file, block := range map[string]*pem.Block{
		p.ca:   {Type: "CERTIFICATE", Bytes: caDER},
		p.cert: {Type: "CERTIFICATE", Bytes: der},
		p.key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// testNKeys makes one NKey user per nats.conf user variable, sets the
// variables (as the pods' Secret does), and writes each seed to a file (as
// the services' Secret does). It returns the seed files by Secret key stem
// (orchestrator, worker, client, system).
func testNKeys(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	seeds := map[string]string{}
	for env, key := range natsUsers {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		seed, err := kp.Seed()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, pub)
		stem := strings.TrimSuffix(key, ".pub")
		seeds[stem] = filepath.Join(dir, stem+".nk")
		if err := os.WriteFile(seeds[stem], seed, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return seeds
}

// relocate rewrites the container's mount paths in conf to local
// directories (a quoted path prefix, as nats.conf writes them).
func relocate(conf string, mounts map[string]string) string {
	for from, to := range mounts {
		conf = strings.ReplaceAll(conf, `"`+from, `"`+to)
	}
	return conf
}

// freePort is a free TCP port on 127.0.0.1 (for the one server whose
// cluster port the others must know before it starts).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSecuredNATSCluster runs the manifests' nats.conf, with its TLS and
// NKey users on, on the nats-server version of go.mod (this test's) as a
// three-server cluster on 127.0.0.1, with certificates and keys made here.
// An orchestrator starts on it with its documented credentials
// (REPRISE_NATS_NKEY, REPRISE_NATS_TLS_CA) and R3 streams; a worker
// connects with its own credentials and can do its work (fetch from the
// consumer the orchestrator made, ack, publish to the work stream) but
// cannot create, update or delete a stream or a consumer; a worker process
// with those credentials starts and runs an activity; a client can use the
// API. Without credentials, or
// without TLS, nobody connects.
func TestSecuredNATSCluster(t *testing.T) {
	m := loadManifests(t)
	conf, c, w := manifestNATSConf(t, m)
	tlsMount := secretMount(t, w, c, natsTLSSecret)
	pki := newTestPKI(t)
	seeds := testNKeys(t)

	// The pods' fixed ports and DNS routes become random ports on
	// 127.0.0.1: nats-0 starts first, the others route to it (the seed)
	// and learn of each other from it.
	const n = 3
	var servers []*server.Server
	seedPort := freePort(t)
	seed := fmt.Sprintf("nats://127.0.0.1:%d", seedPort)
	for i := range n {
		dataDir, runDir := t.TempDir(), t.TempDir()
		mounts := map[string]string{tlsMount: pki.dir}
		for _, vm := range c.VolumeMounts {
			switch vm.Name {
			case "data":
				mounts[vm.MountPath] = dataDir
			case "pid":
				mounts[vm.MountPath] = runDir
			}
		}
		file := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(file, []byte(relocate(conf, mounts)), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SERVER_NAME", fmt.Sprintf("nats-%d", i))
		opts, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatalf("nats.conf: %v", err)
		}
		if opts.TLSConfig == nil || opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Fatalf("nats.conf: client TLS %v, route TLS %v; want both on, routes verifying their peers", opts.TLSConfig != nil, opts.Cluster.TLSConfig != nil)
		}
		if len(opts.Routes) != n {
			t.Fatalf("nats.conf routes %v, want %d", opts.Routes, n)
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, -1
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", -1
		if i == 0 {
			// JetStream wants a route configured; the seed's to itself
			// is ignored.
			opts.Cluster.Port = seedPort
		}
		opts.Routes = server.RoutesFromStr(seed)
		opts.NoSigs = true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			s.ConfigureLogger()
		}
		go s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("server %s not ready", s.Name())
		}
		servers = append(servers, s)
	}
	var urls []string
	for _, s := range servers {
		urls = append(urls, strings.Replace(s.ClientURL(), "nats://", "tls://", 1))
	}
	url := strings.Join(urls, ",")

	connect := func(user string) (*nats.Conn, error) {
		opts := []nats.Option{nats.RootCAs(pki.ca), nats.MaxReconnects(-1), nats.Timeout(5 * time.Second)}
		if user != "" {
			nk, err := nats.NkeyOptionFromSeed(seeds[user])
			if err != nil {
				return nil, err
			}
			opts = append(opts, nk)
		}
		return nats.Connect(url, opts...)
	}
	// Nobody gets in without credentials, or over plain TCP.
	if nc, err := connect(""); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	}
	if nc, err := nats.Connect(servers[0].ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without TLS")
	}

	// The JetStream cluster elects its meta leader; wait for it as a
	// client would (there is no event to await from outside).
	admin, err := connect("orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adminJS, err := natsjs.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// One short request at a time: a request made before the leader
		// exists may get no answer at all.
		try, cancelTry := context.WithTimeout(ctx, 2*time.Second)
		_, err := adminJS.AccountInfo(try)
		cancelTry()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("JetStream cluster not up: %v", err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}

	// The orchestrator, with the credentials the manifests give it.
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatal(err)
	}
	orch, err := host.Start(ctx, host.Orchestrator, host.Config{
		NATSURL:     url,
		NATSNKey:    seeds["orchestrator"],
		TLSCA:       pki.ca,
		Replicas:    3,
		Shards:      4,
		DataDir:     t.TempDir(),
		MetricsAddr: "127.0.0.1:0",
		Activities:  host.ActivitiesOff,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, reg)
	if err != nil {
		t.Fatalf("orchestrator with its NKey and the CA: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := orch.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	work, err := adminJS.Stream(ctx, "reprise_work")
	if err != nil {
		t.Fatal(err)
	}
	if r := work.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("work stream has %d replicas, want 3", r)
	}

	// The worker: its own durable consumer, publish, fetch and ack.
	wc, err := connect("worker")
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	defer wc.Close()
	wjs, err := natsjs.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	// The orchestrator made the activity consumer at its start; the
	// worker only looks it up.
	cons, err := wjs.Consumer(ctx, "reprise_work", "reprise_w_activities")
	if err != nil {
		t.Fatalf("worker reads its consumer: %v", err)
	}
	if _, err := wjs.Publish(ctx, "reprise.w.activities.e.m1", []byte("task")); err != nil {
		t.Fatalf("worker publishes to the work stream: %v", err)
	}
	batch, err := cons.Fetch(1, natsjs.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("worker acks: %v", err)
		}
	}
	if got != 1 || batch.Error() != nil {
		t.Fatalf("worker fetched %d messages (%v), want 1", got, batch.Error())
	}
	// ...and no stream administration: the server refuses the requests
	// (the client sees a permissions violation, and the request times
	// out), and the streams are as the orchestrator made them.
	denied := func(what string, op func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := op(ctx); err == nil {
			t.Errorf("the worker could %s", what)
		}
	}
	denied("create a stream", func(ctx context.Context) error {
		_, err := wjs.CreateStream(ctx, natsjs.StreamConfig{Name: "rogue", Subjects: []string{"rogue.>"}})
		return err
	})
	if err := wc.LastError(); err == nil || !strings.Contains(err.Error(), `Permissions Violation for Publish to "$JS.API.STREAM.CREATE.rogue"`) {
		t.Errorf("stream creation by the worker: last error %v, want a permissions violation", err)
	}
	denied("update the work stream to one replica", func(ctx context.Context) error {
		_, err := wjs.UpdateStream(ctx, natsjs.StreamConfig{Name: "reprise_work", Subjects: work.CachedInfo().Config.Subjects,
			Retention: natsjs.WorkQueuePolicy, Replicas: 1})
		return err
	})
	for _, s := range []string{"reprise_work", "reprise_log"} {
		denied("delete stream "+s, func(ctx context.Context) error { return wjs.DeleteStream(ctx, s) })
	}
	denied("create or update a consumer", func(ctx context.Context) error {
		_, err := wjs.CreateOrUpdateConsumer(ctx, "reprise_work", natsjs.ConsumerConfig{
			Durable: "reprise_w_activities", FilterSubject: "reprise.w.activities.>", AckPolicy: natsjs.AckExplicitPolicy,
			AckWait: time.Second,
		})
		return err
	})
	for _, s := range []string{"reprise_work", "reprise_log", "rogue"} {
		_, err := adminJS.Stream(ctx, s)
		if exists := err == nil; exists != (s != "rogue") {
			t.Errorf("stream %s exists: %v (%v)", s, exists, err)
		}
	}
	if r, err := adminJS.Stream(ctx, "reprise_work"); err != nil || r.CachedInfo().Config.Replicas != 3 {
		t.Errorf("work stream after the worker's attempts: %v", err)
	}

	// A client of the subject API.
	cl, err := connect("client")
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	reply, err := cl.RequestWithContext(ctx, api.Subject("reprise", api.VerbStatus), []byte(`{"id":"no-such-instance"}`))
	if err != nil {
		t.Fatalf("client status request: %v", err)
	}
	if !regexp.MustCompile(`not_found`).Match(reply.Data) {
		t.Errorf("status of an unknown instance: %s", reply.Data)
	}

	// A worker process with the worker's credentials starts (it verifies
	// the streams and the consumer, creating nothing) and runs the
	// activity of an orchestration the client starts.
	worker, err := host.Start(ctx, host.Worker, host.Config{
		NATSURL:     url,
		NATSNKey:    seeds["worker"],
		TLSCA:       pki.ca,
		Replicas:    3,
		Shards:      4,
		MetricsAddr: "127.0.0.1:0",
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, reg)
	if err != nil {
		t.Fatalf("worker with its NKey and the CA: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := worker.Stop(ctx); err != nil {
			t.Errorf("stop worker: %v", err)
		}
	})
	if _, err := cl.RequestWithContext(ctx, api.Subject("reprise", api.VerbStart), []byte(`{"name":"hello","id":"secured-1","input":"cluster"}`)); err != nil {
		t.Fatalf("client start: %v", err)
	}
	reply, err = cl.RequestWithContext(ctx, api.Subject("reprise", api.VerbWait), []byte(`{"id":"secured-1","timeout_ms":30000}`))
	if err != nil {
		t.Fatalf("client wait: %v", err)
	}
	if !strings.Contains(string(reply.Data), `"status":"Completed"`) || !strings.Contains(string(reply.Data), "cluster") {
		t.Fatalf("hello run by the secured worker: %s", reply.Data)
	}
	if a, err := adminJS.Consumer(ctx, "reprise_work", "reprise_w_activities"); err != nil || a.CachedInfo().Config.AckWait != host.DefaultLockTimeout {
		t.Errorf("activity consumer after the worker started: %v", err)
	}
	if err := cl.Publish("reprise.q.orchestrator.0.x", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := cl.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cl.LastError(); err == nil || !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		t.Errorf("a client published into the orchestrator queue: last error %v", err)
	}
}
