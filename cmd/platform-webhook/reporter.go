package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flux-infra/platform-webhook/webhook/config"
	"github.com/flux-infra/platform-webhook/webhook/report"
)

// watched are the kinds whose changes make the reporter run again (their
// metadata only is cached: the run itself lists in pages).
var watched = []metav1.TypeMeta{
	{APIVersion: "v1", Kind: "Namespace"},
	{APIVersion: "v1", Kind: "Pod"},
	{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease"},
	{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization"},
	{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"},
	{APIVersion: "networking.istio.io/v1", Kind: "Gateway"},
}

// reporter keeps report's findings in the cluster as OpenReports, with
// leader election: one replica writes, the others wait.
func reporter(args []string) error {
	fs := pflag.NewFlagSet("reporter", pflag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (default: in-cluster, or $KUBECONFIG)")
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	resync := fs.Duration("resync", time.Hour, "a full run at least this often")
	debounce := fs.Duration("debounce", 10*time.Second, "after a change, wait this long for more before running")
	namespace := fs.String("namespace", "", "namespace of the leader-election Lease (default: the pod's own, else platform-webhook)")
	healthAddr := fs.String("health-addr", ":8081", "address of /healthz and /readyz (0 disables)")
	metricsAddr := fs.String("metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (0 disables)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if *resync <= 0 || *debounce < 0 {
		return fmt.Errorf("--resync must be positive and --debounce not negative")
	}
	log := zap.New()
	ctrl.SetLogger(log)
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	restCfg, err := restConfig(*kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		return err
	}
	if err := openreportsv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if *namespace == "" {
		*namespace = ownNamespace()
	}
	mgr, err := manager.New(restCfg, manager.Options{
		Scheme:                  scheme,
		LeaderElection:          true,
		LeaderElectionID:        "platform-webhook-reporter",
		LeaderElectionNamespace: *namespace,
		HealthProbeBindAddress:  *healthAddr,
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		Cache:                   cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	trigger := make(chan struct{}, 1)
	poke := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	for _, tm := range watched {
		obj := &metav1.PartialObjectMetadata{TypeMeta: tm}
		inf, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if meta.IsNoMatchError(err) {
			continue // Flux or Istio not installed: nothing of that kind to report
		}
		if err != nil {
			return fmt.Errorf("%s informer: %w", strings.ToLower(tm.Kind), err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { poke() }, UpdateFunc: func(any, any) { poke() }, DeleteFunc: func(any) { poke() },
		}); err != nil {
			return err
		}
	}
	r := &report.Reporter{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Config: cfg, Gauge: report.NewFindingsGauge(metrics.Registry)}
	// A RunnableFunc runs only on the elected leader.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return loop(ctx, r, *resync, *debounce, trigger)
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// loop runs the reporter at once, then debounce after a change (changes in
// the meantime join that run), and every resync.
func loop(ctx context.Context, r *report.Reporter, resync, debounce time.Duration, trigger <-chan struct{}) error {
	log := ctrl.Log.WithName("reporter")
	run := func(why string) {
		res, err := r.Sync(ctx)
		if err != nil {
			log.Error(err, "run failed", "why", why)
			return
		}
		log.Info("reported", "why", why, "findings", res.Findings, "written", res.Written, "unchanged", res.Skipped)
	}
	run("start")
	ticker := time.NewTicker(resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			run("resync")
		case <-trigger:
			timer := time.NewTimer(debounce)
		wait:
			for {
				select {
				case <-ctx.Done():
					timer.Stop()
					return nil
				case <-trigger: // more changes: the same run covers them
				case <-timer.C:
					break wait
				}
			}
			run("change")
		}
	}
}

// ownNamespace is the pod's namespace (its service account's), else
// platform-webhook.
func ownNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "platform-webhook"
}
