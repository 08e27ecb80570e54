package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
	"github.com/flux-infra/platform-webhook/webhook/report"
)

// watched are the kinds whose changes make the reporter run again (their
// metadata only is cached: the run itself lists in pages), with the CRD of
// each custom kind: those are watched while their CRD exists, from whenever
// it is installed (webhook.KindFollower).
var watched = []struct {
	metav1.TypeMeta
	crd string
}{
	{metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ""},
	{metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ""},
	{metav1.TypeMeta{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease"}, "helmreleases.helm.toolkit.fluxcd.io"},
	{metav1.TypeMeta{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization"}, "kustomizations.kustomize.toolkit.fluxcd.io"},
	{metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"}, "virtualservices.networking.istio.io"},
	{metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Gateway"}, "gateways.networking.istio.io"},
	{metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway"}, "gateways.gateway.networking.k8s.io"},
	{metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "HTTPRoute"}, "httproutes.gateway.networking.k8s.io"},
	{metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "GRPCRoute"}, "grpcroutes.gateway.networking.k8s.io"},
	{metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "TLSRoute"}, "tlsroutes.gateway.networking.k8s.io"},
	{metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "ListenerSet"}, "listenersets.gateway.networking.k8s.io"},
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
		// The watched kinds are cached as metadata, and only their names and
		// namespaces are read: CacheTransform keeps no annotations or owners
		// (10,000 pods' worth, BENCHMARKS.md Scale).
		Cache: cache.Options{DefaultTransform: webhook.StripManagedFieldsThen(config.CacheTransform)},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	changes := newChangeSet()
	var kinds []webhook.Kind
	for _, w := range watched {
		obj := &metav1.PartialObjectMetadata{TypeMeta: w.TypeMeta}
		// A namespaced object changes its namespace's Report; a Namespace
		// (its mode and injection labels) or a Gateway (the hosts it grants
		// to any namespace) may change any.
		// A route or ListenerSet may own a hostname another namespace's
		// route uses: any namespace's findings may change.
		whole := w.Kind != "Pod" && w.Kind != "HelmRelease" && w.Kind != "Kustomization" && w.Kind != "VirtualService"
		note := func(o any) {
			m, ok := o.(metav1.Object)
			if !ok || whole {
				changes.add("")
				return
			}
			changes.add(m.GetNamespace())
		}
		if w.crd != "" {
			kinds = append(kinds, webhook.Kind{CRD: w.crd, Object: obj, Set: note, Remove: note})
			continue
		}
		inf, err := mgr.GetCache().GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("%s informer: %w", strings.ToLower(w.Kind), err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: note, UpdateFunc: func(_, o any) { note(o) },
			DeleteFunc: func(o any) {
				if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = tomb.Obj
				}
				note(o)
			},
		}); err != nil {
			return err
		}
	}
	// Flux, Istio or the Gateway API installed before or after the reporter:
	// their kinds are watched from then on (a new kind's objects, listed,
	// make a run).
	if _, err := webhook.NewKindFollower(webhook.NewMetrics(metrics.Registry), kinds...).Watch()(ctx, mgr.GetCache()); err != nil {
		return err
	}
	r := &report.Reporter{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Config: cfg, Gauge: report.NewFindingsGauge(metrics.Registry)}
	// A RunnableFunc runs only on the elected leader.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return loop(ctx, r, *resync, *debounce, changes)
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// loop runs the reporter over the whole cluster at once and every resync,
// and debounce after a change over the namespaces that changed (changes in
// the meantime join that run).
func loop(ctx context.Context, r *report.Reporter, resync, debounce time.Duration, changes *changeSet) error {
	log := ctrl.Log.WithName("reporter")
	run := func(why string, only []string) {
		res, err := r.Sync(ctx, only...)
		if err != nil {
			log.Error(err, "run failed", "why", why)
			return
		}
		log.Info("reported", "why", why, "namespaces", len(only), "findings", res.Findings, "written", res.Written, "unchanged", res.Skipped)
	}
	// The caches have synced before a leader's runnables start: what their
	// first lists said, the start run sees too.
	changes.take()
	run("start", nil)
	ticker := time.NewTicker(resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			changes.take()
			run("resync", nil)
		case <-changes.signal:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(debounce):
			}
			whole, namespaces := changes.take()
			if whole {
				run("change", nil)
			} else if len(namespaces) > 0 {
				run("change", namespaces)
			}
		}
	}
}

// changeSet collects the namespaces changed since the last run ("" for a
// change that may concern any).
type changeSet struct {
	mu     sync.Mutex
	set    map[string]bool
	signal chan struct{}
}

func newChangeSet() *changeSet {
	return &changeSet{set: map[string]bool{}, signal: make(chan struct{}, 1)}
}

func (c *changeSet) add(ns string) {
	c.mu.Lock()
	c.set[ns] = true
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// take empties the set: whether any change concerns every namespace, and
// the namespaces changed, sorted.
func (c *changeSet) take() (whole bool, namespaces []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ns := range c.set {
		if ns == "" {
			whole = true
		} else {
			namespaces = append(namespaces, ns)
		}
	}
	c.set = map[string]bool{}
	sort.Strings(namespaces)
	return whole, namespaces
}

// ownNamespace is the pod's namespace (its service account's), else
// platform-webhook.
func ownNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "platform-webhook"
}
