package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

func serve(args []string) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for the informer caches (default: in-cluster, or $KUBECONFIG)")
	// The caches keep only what the look-ups read (BENCHMARKS.md, Scale).
	opts := webhook.ServeOptions{Transform: config.CacheTransform}
	fs.StringVar(&opts.Host, "host", "", "address the webhook server listens on (default: all)")
	fs.IntVar(&opts.Port, "port", 9443, "HTTPS port of the webhook server")
	fs.StringVar(&opts.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with tls.crt and tls.key, reloaded when they change; a self-signed pair is generated when empty")
	fs.StringVar(&opts.HealthAddr, "health-addr", ":8081", "address of /healthz and /readyz (0 disables)")
	fs.StringVar(&opts.MetricsAddr, "metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (0 disables)")
	tlsMin := fs.String("tls-min-version", "1.2", "minimum TLS version: 1.2 or 1.3")
	fs.DurationVar(&opts.ShutdownDrain, "shutdown-drain", 10*time.Second,
		"after SIGTERM: how long to keep answering (not ready, every answer with Connection: close) before shutting down; 0 shuts down at once")
	logLevel := fs.String("log-level", "info", "log level: debug, info or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}

	zopts := zap.Options{}
	switch *logLevel {
	case "debug":
		zopts.Development = false
		zopts.Level = zapLevel(-1)
	case "info":
		zopts.Level = zapLevel(0)
	case "error":
		zopts.Level = zapLevel(2)
	default:
		return fmt.Errorf("--log-level must be debug, info or error (found %q)", *logLevel)
	}
	switch *tlsMin {
	case "1.2":
		opts.TLSMinVersion = tls.VersionTLS12
	case "1.3":
		opts.TLSMinVersion = tls.VersionTLS13
	default:
		return fmt.Errorf("--tls-min-version must be 1.2 or 1.3 (found %q)", *tlsMin)
	}
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)

	cfg, err := config.Load(*configPath)
	if err != nil {
		return err // names the file, line and field
	}
	restCfg, err := restConfig(*kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		return fmt.Errorf("scheme: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	set := cfg.Build(webhook.NewMetrics(metrics.Registry))
	srv, err := webhook.NewServer(ctx, restCfg, scheme, opts, set.Endpoints, cfg.Watches(set)...)
	if err != nil {
		return err
	}
	if opts.ShutdownDrain < 0 {
		return fmt.Errorf("--shutdown-drain must not be negative (found %s)", opts.ShutdownDrain)
	}
	log.Info("starting", "config", configName(*configPath), "port", opts.Port, "certDir", opts.CertDir, "shutdownDrain", opts.ShutdownDrain.String())
	return srv.Start(ctx)
}

func configName(path string) string {
	if path == "" {
		return config.DefaultName
	}
	return path
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if os.Getenv("KUBECONFIG") == "" {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
	}
	// $KUBECONFIG or ~/.kube/config, as kubectl reads them (not
	// controller-runtime's GetConfig, which logs a stack trace first).
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errors.New("no cluster to connect to: not in a cluster (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig (set --kubeconfig or $KUBECONFIG, or write ~/.kube/config)")
	}
	return c, err
}
