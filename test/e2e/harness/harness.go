// Package harness runs a real control plane (etcd and kube-apiserver built
// by test/tools/controlplane.sh, started by controller-runtime's envtest) with
// the real CRDs, the platform-webhook binary as a separate process on a free
// loopback port, and the webhook configurations shipped in manifests/webhook,
// pointed at that process. The end-to-end tests and `make demo` share it.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"encoding/json"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running control plane with the webhook.
type Cluster struct {
	Env        *envtest.Environment
	Client     client.Client
	Dir        string // scratch folder: kubeconfig, certs, logs, binary
	Kubeconfig string
	KubectlBin string
	Binary     string // the built platform-webhook
	WebhookLog string // the webhook's log file

	webhook     *process
	kcm         *process
	istio       *process // Istio's sidecar injector
	configPath  string
	webhookPort int
	healthAddr  string
	metricsAddr string
	caBundle    []byte
	assets      string // KUBEBUILDER_ASSETS: the binaries controlplane.sh built
}

// NodeName is the Node every harness cluster has (see Start).
const NodeName = "node-1"

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Start starts etcd and kube-apiserver from $KUBEBUILDER_ASSETS with the CRDs
// of $PLATFORM_WEBHOOK_CRDS, kube-controller-manager, and one Node; and
// builds the webhook binary. Istio's injector is StartIstio's.
func Start() (*Cluster, error) {
	assets, crds := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("PLATFORM_WEBHOOK_CRDS")
	if assets == "" || crds == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS and PLATFORM_WEBHOOK_CRDS must be set: run through `make test-e2e` (test/tools/controlplane.sh builds them)")
	}
	dir, err := os.MkdirTemp("", "platform-webhook-e2e-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, assets: assets, KubectlBin: filepath.Join(assets, "kubectl"), WebhookLog: filepath.Join(dir, "webhook.log")}
	c.Env = &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	// envtest switches the ServiceAccount admission plugin off because it
	// runs no controller to create the default ServiceAccounts; this harness
	// runs kube-controller-manager, so pods are admitted as in a cluster
	// (their ServiceAccount and its token volume set before our webhooks).
	c.Env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	cfg, err := c.Env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.Env.KubeConfig, 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	if c.Client, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.startControllerManager(assets); err != nil {
		c.Stop()
		return nil, err
	}
	// A cluster has Nodes: one whose kubelet is the apiserver's version.
	// Tests add older ones to see native-sidecar decisions change.
	version, err := c.ServerVersion()
	if err == nil {
		err = c.AddNode(context.Background(), NodeName, version)
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("create Node %s: %w", NodeName, err)
	}
	c.Binary = filepath.Join(dir, "platform-webhook")
	build := exec.Command("go", "build", "-o", c.Binary, "./cmd/platform-webhook")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("build platform-webhook: %v\n%s", err, out)
	}
	return c, nil
}

// ShutdownDrain is the webhook's --shutdown-drain in the tests: shorter than
// the shipped 10s so that restarts stay quick, long enough for
// TestGracefulShutdownUnderLoad to act during it.
const ShutdownDrain = 3 * time.Second

// StartWebhook runs `platform-webhook serve` with the given config file on
// free loopback ports and, the first time, an empty cert folder (so the
// server generates its self-signed pair), and waits until /readyz answers 200.
func (c *Cluster) StartWebhook(configPath string) error {
	// A restart keeps the ports and the generated certificate, so the
	// installed webhook configurations stay valid.
	if c.webhookPort == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		health, err := freePort()
		if err != nil {
			return err
		}
		metrics, err := freePort()
		if err != nil {
			return err
		}
		c.webhookPort, c.healthAddr = port, fmt.Sprintf("127.0.0.1:%d", health)
		c.metricsAddr = fmt.Sprintf("127.0.0.1:%d", metrics)
	}
	port := c.webhookPort
	c.configPath = configPath
	certDir := filepath.Join(c.Dir, "certs")
	p, err := startProcess("webhook", c.WebhookLog, c.Binary, "serve",
		"--config", configPath,
		"--kubeconfig", c.Kubeconfig,
		"--host", "127.0.0.1",
		"--port", fmt.Sprint(port),
		"--cert-dir", certDir,
		"--health-addr", c.healthAddr,
		"--metrics-addr", c.metricsAddr,
		"--shutdown-drain", ShutdownDrain.String(),
	)
	if err != nil {
		return err
	}
	c.webhook = p
	err = p.waitUntil("ready", 60*time.Second, 100*time.Millisecond, func() bool {
		resp, err := http.Get("http://" + c.healthAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		c.StopWebhook()
		return err
	}
	c.caBundle, err = os.ReadFile(filepath.Join(certDir, "tls.crt"))
	return err
}

// StopWebhook stops the webhook process (SIGTERM, as the kubelet does).
func (c *Cluster) StopWebhook() {
	c.webhook.stop(30 * time.Second)
	c.webhook = nil
}

// WebhookRequests is how many admission requests the webhook has answered
// at path ("/image-registry"), from controller-runtime's
// controller_runtime_webhook_requests_total on its metrics endpoint.
func (c *Cluster) WebhookRequests(path string) (float64, error) {
	resp, err := http.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "controller_runtime_webhook_requests_total{") || !strings.Contains(line, `webhook="`+path+`"`) {
			continue
		}
		var n float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &n); err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += n
	}
	return total, nil
}

// ConfigPath is the config file the webhook last started with.
func (c *Cluster) ConfigPath() string { return c.configPath }

// Log is what the webhook wrote so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.WebhookLog)
	return string(b)
}

// InstallWebhooks creates the webhook configurations of a manifest file
// exactly as shipped, except that each clientConfig points at the local
// webhook (URL instead of service, the self-signed CA).
func (c *Cluster) InstallWebhooks(ctx context.Context, manifest string) error {
	return c.installConfigs(ctx, manifest, c.pointAtLocal)
}

// installConfigs creates the webhook configurations of a manifest file, each
// entry's clientConfig first passed to point.
func (c *Cluster) installConfigs(ctx context.Context, manifest string, point func(*admissionregistrationv1.WebhookClientConfig)) error {
	data, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw struct {
			Kind string `json:"kind"`
		}
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", manifest, err)
		}
		if doc == nil {
			continue
		}
		raw.Kind, _ = doc["kind"].(string)
		js, _ := json.Marshal(doc)
		switch raw.Kind {
		case "MutatingWebhookConfiguration":
			var m admissionregistrationv1.MutatingWebhookConfiguration
			if err := jsonUnmarshalStrict(js, &m); err != nil {
				return fmt.Errorf("%s: %w", manifest, err)
			}
			for i := range m.Webhooks {
				point(&m.Webhooks[i].ClientConfig)
			}
			if err := c.Client.Create(ctx, &m); err != nil {
				return err
			}
		case "ValidatingWebhookConfiguration":
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			if err := jsonUnmarshalStrict(js, &v); err != nil {
				return fmt.Errorf("%s: %w", manifest, err)
			}
			for i := range v.Webhooks {
				point(&v.Webhooks[i].ClientConfig)
			}
			if err := c.Client.Create(ctx, &v); err != nil {
				return err
			}
		}
	}
}

func (c *Cluster) pointAtLocal(cc *admissionregistrationv1.WebhookClientConfig) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := fmt.Sprintf("https://127.0.0.1:%d%s", c.webhookPort, path)
	cc.URL, cc.Service, cc.CABundle = &url, nil, c.caBundle
}

// WebhookURL is the local address of a webhook path, for test-only webhooks.
func (c *Cluster) WebhookURL(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", c.webhookPort, path)
}

// Kubectl runs the pinned kubectl against the cluster with stdin as input.
func (c *Cluster) Kubectl(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(c.KubectlBin, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// startControllerManager runs kube-controller-manager (built by
// controlplane.sh from the same Kubernetes module as the apiserver) against
// the control plane, so that Deployments, ReplicaSets, Jobs and CronJobs
// create their pods through the webhooks, and namespaces get their default
// ServiceAccount, as in a cluster. Nothing schedules the pods: they stay
// Pending, which is all admission needs. It waits until the ServiceAccount
// controller has made "default" in namespace default.
func (c *Cluster) startControllerManager(assets string) error {
	p, err := startProcess("kube-controller-manager", filepath.Join(c.Dir, "kube-controller-manager.log"),
		filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig", c.Kubeconfig,
		"--authentication-kubeconfig", c.Kubeconfig,
		"--authorization-kubeconfig", c.Kubeconfig,
		"--leader-elect=false",
		"--bind-address", "127.0.0.1",
		"--secure-port", "0",
		"--use-service-account-credentials=false",
		// The legacy token controller signs with the apiserver's key.
		"--service-account-private-key-file", filepath.Join(c.Env.ControlPlane.GetAPIServer().CertDir, "sa-signer.key"),
		// Jobs and CronJobs are what the tests need quickly; the node
		// controllers would only mark the tests' fake Nodes NotReady.
		"--controllers", "*,-nodelifecycle,-nodeipam",
	)
	if err != nil {
		return err
	}
	c.kcm = p
	return p.waitUntil("making the default ServiceAccount", 60*time.Second, 200*time.Millisecond, func() bool {
		_, _, err := c.Kubectl("", "get", "serviceaccount", "default", "-n", "default")
		return err == nil
	})
}

// Stop stops the webhook and the control plane and removes the scratch folder.
func (c *Cluster) Stop() {
	c.StopWebhook()
	c.istio.stop(10 * time.Second)
	c.kcm.stop(10 * time.Second)
	c.istio, c.kcm = nil, nil
	if c.Env != nil {
		c.Env.Stop()
	}
	os.RemoveAll(c.Dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
