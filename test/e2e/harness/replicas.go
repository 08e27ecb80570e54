package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// Replica is a `platform-webhook serve` process besides the cluster's own:
// one of several behind a Service stand-in (the fault tests), or one tests
// talk to directly (StartExtraWebhook). Its own ports, cert folder and log.
type Replica struct {
	Name       string
	Addr       string // host:port of the webhook server
	URL        string // https://<Addr>
	HealthAddr string
	CertDir    string
	LogFile    string
	proc       *process
}

// StartReplica starts `platform-webhook serve` with configPath and the
// certificate files in certDir (not generated: the caller writes them, as
// cert-manager's Secret would be mounted), plus args. It does not wait for
// readiness.
func (c *Cluster) StartReplica(name, configPath, certDir string, args ...string) (*Replica, error) {
	dir := filepath.Join(c.Dir, "replicas")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return c.startServe(name, c.Kubeconfig, configPath, certDir, filepath.Join(dir, name+".log"), args...)
}

// startServe starts `platform-webhook serve` on free loopback ports.
func (c *Cluster) startServe(name, kubeconfig, configPath, certDir, logFile string, args ...string) (*Replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	health, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Replica{
		Name:       name,
		Addr:       fmt.Sprintf("127.0.0.1:%d", port),
		HealthAddr: fmt.Sprintf("127.0.0.1:%d", health),
		CertDir:    certDir,
		LogFile:    logFile,
	}
	r.URL = "https://" + r.Addr
	r.proc, err = startProcess("webhook "+name, r.LogFile, c.Binary, append([]string{"serve",
		"--config", configPath,
		"--kubeconfig", kubeconfig,
		"--host", "127.0.0.1",
		"--port", fmt.Sprint(port),
		"--cert-dir", certDir,
		"--health-addr", r.HealthAddr,
		"--metrics-addr", "0",
	}, args...)...)
	return r, err
}

// Ready reports whether /readyz answers 200.
func (r *Replica) Ready() bool {
	code, _, err := Readyz(r.HealthAddr)
	return err == nil && code == http.StatusOK
}

// WaitReady waits until /readyz answers 200.
func (r *Replica) WaitReady(timeout time.Duration) error {
	return r.proc.waitUntil("ready", timeout, 50*time.Millisecond, r.Ready)
}

// Signal sends sig (SIGTERM, SIGKILL) without waiting.
func (r *Replica) Signal(sig syscall.Signal) error { return r.proc.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end: how it ended, and
// whether it did.
func (r *Replica) Wait(timeout time.Duration) (error, bool) { return r.proc.wait(timeout) }

// Stop sends SIGTERM and kills after grace.
func (r *Replica) Stop(grace time.Duration) { r.proc.stop(grace) }

// Log is what the process wrote so far.
func (r *Replica) Log() string { return r.proc.log() }

// InstallWebhooksWith creates the webhook configurations of a manifest file
// exactly as shipped, each entry's clientConfig first passed to point.
func (c *Cluster) InstallWebhooksWith(ctx context.Context, manifest string, point func(*admissionregistrationv1.WebhookClientConfig)) error {
	return c.installConfigs(ctx, manifest, point)
}
