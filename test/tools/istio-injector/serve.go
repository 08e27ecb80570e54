package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/cluster"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
	istiolog "istio.io/istio/pkg/log"
)

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	port := fs.Int("port", 15017, "HTTPS port")
	addr := fs.String("address", "127.0.0.1", "listen address")
	certDir := fs.String("cert-dir", "", "directory to write tls.crt/tls.key (self-signed; tls.crt doubles as caBundle)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster whose Nodes decide native sidecars (ENABLE_NATIVE_SIDECARS=auto)")
	configDir := fs.String("config-dir", "", "directory written by `render` (config, values, mesh)")
	revision := fs.String("revision", "", "istio.io/rev this injector serves (must match render --revision)")
	namespace := fs.String("namespace", "istio-system", "istio namespace (only used for cert SANs)")
	native := fs.String("native-sidecars", "", "override ENABLE_NATIVE_SIDECARS: auto|true|false (default: the env var, itself defaulting to auto)")
	_ = fs.Parse(args)
	if *certDir == "" || *configDir == "" {
		return fmt.Errorf("serve: --cert-dir and --config-dir are required")
	}
	if err := setNativeSidecars(*native); err != nil {
		return err
	}
	_ = istiolog.Configure(istiolog.DefaultOptions())

	var client kube.Client
	if *kubeconfig != "" {
		rc, err := kube.DefaultRestConfig(*kubeconfig, "")
		if err != nil {
			return err
		}
		client, err = kube.NewClient(kube.NewClientConfigForRestConfig(rc), constants.DefaultClusterName)
		if err != nil {
			return err
		}
	}

	stop := make(chan struct{})
	mux, _, err := newInjector(*configDir, *revision, client, stop)
	if err != nil {
		return err
	}

	cert, err := writeSelfSignedCert(*certDir, *namespace, *revision)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort(*addr, fmt.Sprint(*port)),
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "istio-injector: serving https://%s/inject (native sidecars mode %v)\n", ln.Addr(), features.EnableNativeSidecars)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		close(stop)
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

func setNativeSidecars(v string) error {
	switch v {
	case "":
	case "auto":
		features.EnableNativeSidecars = features.NativeSidecarModeAuto
	case "true":
		features.EnableNativeSidecars = features.NativeSidecarModeEnabled
	case "false":
		features.EnableNativeSidecars = features.NativeSidecarModeDisabled
	default:
		return fmt.Errorf("--native-sidecars: want auto|true|false, got %q", v)
	}
	return nil
}

// newInjector builds inject.NewWebhook the way istiod's initSidecarInjector
// does (pilot/pkg/bootstrap/sidecarinjector.go), and returns the mux that
// serves /inject and /inject/. client may be nil (then, in auto mode, native
// sidecars are off: DetectNativeSidecar gets no Node client). The client's
// informers are started here; close stop to end them.
func newInjector(configDir, revision string, client kube.Client, stop chan struct{}) (*http.ServeMux, *inject.Webhook, error) {
	meshYAML, err := os.ReadFile(filepath.Join(configDir, "mesh"))
	if err != nil {
		return nil, nil, err
	}
	// istiod reads the `mesh` key of ConfigMap istio[-REV] the same way.
	meshCfg, err := mesh.ApplyMeshConfigDefaults(string(meshYAML))
	if err != nil {
		return nil, nil, fmt.Errorf("mesh config: %w", err)
	}

	// What NewWebhook and Webhook.inject read from the Environment:
	//   Env.Watcher (Mesh() + AddMeshHandler) and Env.PushContext().ProxyConfigs
	//   (GetProxyConfigOrDefault merges mesh.defaultConfig with ProxyConfig CRs;
	//   without ProxyConfigs it would fall back to mesh.DefaultProxyConfig() and
	//   ignore meshConfig.defaultConfig). No ProxyConfig CRs are watched here.
	store := model.NewFakeStore()
	env := &model.Environment{
		Watcher:     meshwatcher.NewTestWatcher(meshCfg),
		ConfigStore: store,
	}
	push := model.NewPushContext()
	push.ProxyConfigs = model.GetProxyConfigs(store, meshCfg)
	env.SetPushContext(push)

	// Same watcher istiod uses when the injector ConfigMap is mounted at
	// /var/lib/istio/inject (config + values keys).
	watcher, err := inject.NewFileWatcher(filepath.Join(configDir, "config"), filepath.Join(configDir, "values"))
	if err != nil {
		return nil, nil, err
	}

	// multicluster.Fake is the exported ComponentBuilder with no secret
	// controller: Add() hands the cluster to every component registered by
	// NewWebhook (the Node kclient used by DetectNativeSidecar).
	multi := multicluster.NewFakeController()
	mux := http.NewServeMux()
	wh, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      watcher,
		Env:          env,
		Mux:          mux,
		Revision:     revision,
		MultiCluster: multi,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("inject.NewWebhook: %w", err)
	}
	if client != nil {
		// Webhook.inject looks the Node client up by values.global.multiCluster.clusterName,
		// or constants.DefaultClusterName when that is empty.
		id := wh.GetConfig().Values.Struct().GetGlobal().GetMultiCluster().GetClusterName()
		if id == "" {
			id = constants.DefaultClusterName
		}
		multi.Add(cluster.ID(id), client, stop)
		client.RunAndWait(stop)
	}
	wh.Run(stop)
	return mux, wh, nil
}

func writeSelfSignedCert(dir, namespace, revision string) (tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	svc := "istiod"
	if revision != "" && revision != "default" {
		svc += "-" + revision
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: svc + "." + namespace + ".svc"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", svc + "." + namespace + ".svc", svc + "." + namespace + ".svc.cluster.local"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
