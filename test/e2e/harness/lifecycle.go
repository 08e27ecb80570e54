package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Helpers for the lifecycle tests: signals, certificates and readiness of
// the cluster's webhook, extra webhook processes, and a proxy that cuts the
// connection to the apiserver.

// CertDir is the cluster's webhook's --cert-dir.
func (c *Cluster) CertDir() string { return filepath.Join(c.Dir, "certs") }

// HealthAddr is the address of the cluster's webhook's /healthz and /readyz.
func (c *Cluster) HealthAddr() string { return c.healthAddr }

// SignalWebhook sends sig to the cluster's webhook without waiting.
func (c *Cluster) SignalWebhook(sig os.Signal) error {
	if c.webhook == nil {
		return errors.New("the webhook is not running")
	}
	return c.webhook.cmd.Process.Signal(sig)
}

// WaitWebhook waits up to timeout for the cluster's webhook to exit and
// returns how it exited; exited is false after the timeout.
func (c *Cluster) WaitWebhook(timeout time.Duration) (err error, exited bool) {
	if c.webhook == nil {
		return nil, true
	}
	err, exited = c.webhook.wait(timeout)
	if exited {
		c.webhook = nil
	}
	return err, exited
}

// SetCABundle sets the caBundle of every entry of the platform-webhook
// webhook configurations, as cert-manager's CA injector does.
func (c *Cluster) SetCABundle(ctx context.Context, bundle []byte) error {
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Client.Get(ctx, client.ObjectKey{Name: "platform-webhook"}, &m); err != nil {
		return err
	}
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := c.Client.Update(ctx, &m); err != nil {
		return err
	}
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Client.Get(ctx, client.ObjectKey{Name: "platform-webhook"}, &v); err != nil {
		return err
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = bundle
	}
	return c.Client.Update(ctx, &v)
}

// Readyz GETs /readyz?verbose at addr: the status code and the body, which
// names each check ("[+]caches ok", "[-]shutdown failed: reason withheld").
func Readyz(addr string) (int, string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + addr + "/readyz?verbose")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// StartExtraWebhook starts `platform-webhook serve` besides the cluster's
// own, with the given kubeconfig and config file, its own ports and
// self-signed certificate. It is not behind the webhook configurations:
// tests send it AdmissionReviews directly. It does not wait for readiness.
func (c *Cluster) StartExtraWebhook(name, kubeconfig, configPath string) (*Replica, error) {
	dir := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return c.startServe(name, kubeconfig, configPath, filepath.Join(dir, "certs"), filepath.Join(dir, "webhook.log"))
}

// KubeconfigVia writes a copy of the cluster's kubeconfig whose server is
// addr (a Proxy in front of the apiserver) and returns its path. The
// apiserver's certificate is for 127.0.0.1, so a proxy on loopback passes
// TLS verification.
func (c *Cluster) KubeconfigVia(addr, name string) (string, error) {
	cfg, err := clientcmd.Load(c.Env.KubeConfig)
	if err != nil {
		return "", err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + addr
	}
	path := filepath.Join(c.Dir, name)
	return path, clientcmd.WriteToFile(*cfg, path)
}

// APIServerAddr is the apiserver's host:port.
func (c *Cluster) APIServerAddr() string {
	u, err := url.Parse(c.Env.Config.Host)
	if err != nil {
		return ""
	}
	return u.Host
}

// Proxy forwards TCP connections from a loopback port to target. Cut
// closes every connection and the port (connection refused), Restore
// listens on the same port again: an apiserver that drops and returns.
type Proxy struct {
	Addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

// NewProxy starts a proxy to target on a free loopback port.
func NewProxy(target string) (*Proxy, error) {
	p := &Proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close(); in.Close() }()
			go func() { io.Copy(in, out); in.Close(); out.Close() }()
		}
	}()
}

// Cut closes the listener and every forwarded connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore listens on the proxy's port again.
func (p *Proxy) Restore() error {
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.Cut() }
