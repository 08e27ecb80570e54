// Command baseline is the benchmark's bare server: platform-webhook's server
// (webhook.NewServer: controller-runtime's manager and webhook server, the
// same TLS settings, the same namespace, Gateway and VirtualService informers
// started from the same config file) with every policy endpoint replaced by a
// handler that decodes the request's object into its Go type and allows it.
// What platform-webhook costs beyond it is what its policies cost.
//
// It takes serve's process flags; it is built and run by the benchmark only
// (go run ./test/bench), never shipped.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/test/bench/handlers"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("baseline", pflag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file: which informers to start, as serve does (default: the embedded default)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for the informer caches")
	// The same caches as platform-webhook serve.
	opts := webhook.ServeOptions{TLSMinVersion: tls.VersionTLS12, Transform: config.CacheTransform}
	fs.StringVar(&opts.Host, "host", "", "address the webhook server listens on")
	fs.IntVar(&opts.Port, "port", 9443, "HTTPS port of the webhook server")
	fs.StringVar(&opts.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with tls.crt and tls.key; a self-signed pair is generated when empty")
	fs.StringVar(&opts.HealthAddr, "health-addr", ":8081", "address of /healthz and /readyz (0 disables)")
	fs.StringVar(&opts.MetricsAddr, "metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (0 disables)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	// serve's logger at its default level (info, JSON).
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zap.Options{Level: zapcore.InfoLevel})))

	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		return fmt.Errorf("scheme: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	set := cfg.Build(nil)
	register := func(dec admission.Decoder, ns webhook.NamespaceLabels) map[string]admission.Handler {
		// The same paths as platform-webhook's endpoints.
		paths := slices.Sorted(maps.Keys(set.Endpoints(dec, ns)))
		return handlers.Baseline(dec, paths)
	}
	srv, err := webhook.NewServer(ctx, restCfg, scheme, opts, register, cfg.Watches(set)...)
	if err != nil {
		return err
	}
	return srv.Start(ctx)
}
