package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// ServeOptions are the server's process settings (flags).
type ServeOptions struct {
	Host        string
	Port        int
	CertDir     string
	HealthAddr  string
	MetricsAddr string
	// TLSMinVersion is tls.VersionTLS12 or tls.VersionTLS13.
	TLSMinVersion uint16
	// ShutdownDrain is how long the server keeps answering after SIGTERM,
	// every answer with Connection: close, before it shuts down.
	ShutdownDrain time.Duration
	// Transform, when set, is applied to every object the informers cache
	// (after managed fields are stripped): what the look-ups do not read
	// need not be kept (config.CacheTransform).
	Transform toolscache.TransformFunc
}

// Cert and key file names in the cert dir, as cert-manager writes them.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Server is the live webhook: controller-runtime's manager with its webhook
// server, a namespace informer for look-ups, health and metrics.
type Server struct {
	mgr   manager.Manager
	ctx   atomic.Pointer[context.Context] // Start's; done once shutdown begins
	drain time.Duration
}

// Watch sets up an informer on the manager's cache for a look-up policies
// need beyond namespace labels (gateway-hosts: Gateways, VirtualServices)
// and registers its event handlers. The server is not ready until every
// watch reports synced: its handlers have seen the initial list.
type Watch func(ctx context.Context, c cache.Cache) (synced func() bool, err error)

// NewServer builds the manager. handlers are registered by register, which
// receives the namespace look-up backed by the informer cache; watches add
// the other informers policies read.
func NewServer(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, opts ServeOptions,
	register func(decoder admission.Decoder, ns NamespaceLabels) map[string]admission.Handler, watches ...Watch) (*Server, error) {
	certDir, err := ensureCert(opts.CertDir)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	minTLS := opts.TLSMinVersion
	if minTLS == 0 {
		minTLS = tls.VersionTLS12
	}
	hooks := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host:    opts.Host,
		Port:    opts.Port,
		CertDir: certDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = minTLS
			// HTTP/2 off: rapid-reset (CVE-2023-44487); the apiserver speaks HTTP/1.1 to webhooks.
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                  scheme,
		WebhookServer:           hooks,
		HealthProbeBindAddress:  opts.HealthAddr,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		GracefulShutdownTimeout: ptr(20 * time.Second),
		Cache: cache.Options{
			// Only metadata of namespaces is cached: the labels are all policies
			// read. A transform per kind, not ByObject: ByObject asks the
			// RESTMapper at start-up, which fails for a CRD installed later.
			DefaultTransform: StripManagedFieldsThen(opts.Transform),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}

	nsInformer, err := mgr.GetCache().GetInformer(ctx, namespaceMeta(), cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("namespace informer: %w", err)
	}
	synced := []func() bool{nsInformer.HasSynced}
	for _, w := range watches {
		ok, err := w(ctx, mgr.GetCache())
		if err != nil {
			return nil, err
		}
		synced = append(synced, ok)
	}
	reader := mgr.GetCache()
	lookup := func(ctx context.Context, name string) (map[string]string, error) {
		ns := namespaceMeta()
		if err := reader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil // created in the same apply, not cached yet: no labels
			}
			return nil, err
		}
		return ns.Labels, nil
	}
	s := &Server{mgr: mgr, drain: opts.ShutdownDrain}
	// GetWebhookServer also adds the server to the manager's runnables.
	hooks = mgr.GetWebhookServer()
	for path, h := range register(admission.NewDecoder(scheme), lookup) {
		hooks.Register(path, s.closeWhileDraining(&admission.Webhook{Handler: h, RecoverPanic: ptr(true)}))
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", hooks.StartedChecker()); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(synced)); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("shutdown", s.notStopping); err != nil {
		return nil, err
	}
	return s, nil
}

// Start serves until ctx is done (SIGTERM), then drains and shuts down.
//
// The apiserver never retries a webhook call: one POST on a kept-alive
// connection, and a transport error goes to the failurePolicy
// (k8s.io/apiserver/pkg/admission/plugin/webhook/{mutating,validating}/dispatcher.go,
// callHook). Through a ClusterIP, kube-proxy keeps an established connection
// on this pod after it has left the endpoints, so the apiserver goes on
// sending on it. Closing it (http.Server.Shutdown closes idle connections at
// once) races the next request: the lost call is "Post ...: EOF". So for
// the drain readiness fails at once (notStopping), every answer, on old and
// new connections, carries Connection: close (closeWhileDraining: the client
// dials again, through the Service, a ready replica) and the listener stays
// open; only then does the manager stop the webhook server, which finishes
// the requests in flight. The informers run until then: answers stay right.
func (s *Server) Start(ctx context.Context) error {
	s.ctx.Store(&ctx)
	mgrCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.mgr.Start(mgrCtx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log := s.mgr.GetLogger()
	log.Info("draining: not ready, answering with Connection: close", "drain", s.drain.String())
	timer := time.NewTimer(s.drain)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	log.Info("drained: shutting down")
	stop()
	return <-done
}

// closeWhileDraining answers with Connection: close once shutdown has begun,
// so that the client does not reuse the connection (net/http closes it after
// such an answer). It is decided when the answer is written, not when the
// request arrives: a request whose body was still coming at SIGTERM is
// answered during the drain too.
func (s *Server) closeWhileDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&drainWriter{ResponseWriter: w, s: s}, r)
	})
}

// drainWriter adds Connection: close to the answer's header when it is
// written during the drain.
type drainWriter struct {
	http.ResponseWriter
	s       *Server
	written bool
}

func (w *drainWriter) WriteHeader(code int) {
	if !w.written && w.s.stopping() {
		w.Header().Set("Connection", "close")
	}
	w.written = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *drainWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// StripManagedFieldsThen is the informer transform that strips managed
// fields, then applies then (when set).
func StripManagedFieldsThen(then toolscache.TransformFunc) toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	if then == nil {
		return strip
	}
	return func(o any) (any, error) {
		o, err := strip(o)
		if err != nil {
			return nil, err
		}
		return then(o)
	}
}

func namespaceMeta() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// ensureCert returns a directory holding tls.crt and tls.key: dir itself when
// they are there (cert-manager mounts them; the server reloads them when they
// change), else a self-signed pair generated into dir, or into a temporary
// directory when dir is not writable.
func ensureCert(dir string) (string, error) {
	if fileExists(filepath.Join(dir, CertFile)) && fileExists(filepath.Join(dir, KeyFile)) {
		return dir, nil
	}
	host, _ := os.Hostname()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, []string{"localhost"})
	if err != nil {
		return "", err
	}
	for _, d := range []string{dir, ""} {
		if d == "" {
			if d, err = os.MkdirTemp("", "platform-webhook-certs-"); err != nil {
				return "", err
			}
		} else if err := os.MkdirAll(d, 0o700); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, KeyFile), keyPEM, 0o600); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, CertFile), certPEM, 0o644); err != nil {
			continue
		}
		return d, nil
	}
	return "", errors.New("no writable directory for a self-signed certificate")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func ptr[T any](v T) *T { return &v }
