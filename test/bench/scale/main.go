// Command scale measures platform-webhook serve's memory and informer sync
// on a big cluster: it starts the harness's real etcd and kube-apiserver,
// runs the webhook on the empty cluster (the baseline), writes the cluster
// (test/bench/scale/objects: tenant namespaces, EKS-like Nodes, Istio and
// Gateway API Gateways, VirtualServices and HTTPRoutes, webhook
// configurations; no kubelets), then runs it again, and for each run prints
// the time from start to /readyz 200 (the informers' sync), the resident
// memory after sync and at peak, and the heap in use. With -before REV it
// runs the binary built at that revision too, taking turns, so the figures
// of both sit side by side in one run. Then it measures in process the
// heap an informer keeps per object of each kind, before and after the
// cache transform. Markdown tables on stdout (BENCHMARKS.md, Scale).
//
//	KUBEBUILDER_ASSETS=... PLATFORM_WEBHOOK_CRDS=... go run ./test/bench/scale [-before REV] [-rounds 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/test/bench/measure"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

func main() {
	var n counts
	flag.IntVar(&n.namespaces, "namespaces", 10000, "tenant namespaces")
	flag.IntVar(&n.nodes, "nodes", 5000, "Nodes")
	flag.IntVar(&n.gateways, "gateways", 2000, "Gateways, half Istio's, half the Gateway API's")
	flag.IntVar(&n.routes, "routes", 20000, "routes, half VirtualServices, half HTTPRoutes")
	flag.IntVar(&n.webhooks, "webhooks", 500, "MutatingWebhookConfigurations")
	before := flag.String("before", "", "git revision whose binary runs beside this tree's (empty: only this tree's)")
	rounds := flag.Int("rounds", 2, "runs of each binary on the full cluster, taking turns")
	workers := flag.Int("workers", 32, "parallel writers")
	perKindN := flag.Int("per-kind", 1000, "objects of each kind for the in-process bytes per object")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the writers' client logs nothing worth reading
	if err := run(n, *before, *rounds, *workers, *perKindN); err != nil {
		fmt.Fprintln(os.Stderr, "bench scale:", err)
		os.Exit(1)
	}
}

// binary is a platform-webhook build under test.
type binary struct{ name, path string }

// result is one run of the webhook.
type result struct {
	bin             binary
	ready           time.Duration
	rss, peak, heap int64
}

func run(n counts, before string, rounds, workers, perKindN int) error {
	c, err := harness.Start()
	if err != nil {
		return err
	}
	defer c.Stop()
	bins := []binary{{"this tree", c.Binary}}
	if before != "" {
		path := filepath.Join(c.Dir, "platform-webhook-before")
		if err := measure.BuildAt(harness.RepoRoot(), before, path); err != nil {
			return err
		}
		bins = []binary{{"before (" + before + ")", path}, {"after (this tree)", c.Binary}}
	}
	empty := map[string]result{}
	for _, b := range bins {
		r, err := serve(c, b)
		if err != nil {
			return err
		}
		empty[b.name] = r
	}

	scheme, err := config.Scheme()
	if err != nil {
		return err
	}
	cfg := *c.Env.Config
	cfg.QPS, cfg.Burst = 5000, 10000
	cl, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := populate(context.Background(), cl, n, workers); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s in %s\n", n, time.Since(start).Round(time.Second))

	fmt.Printf("\n%s (%d objects), %s\n\n", n, n.total(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("| binary | cluster | sync (start to ready) | RSS after sync | peak RSS | heap in use | bytes per cached object |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, b := range bins {
		e := empty[b.name]
		fmt.Printf("| %s | empty | %s | %s | %s | %s | |\n", b.name, e.ready.Round(10*time.Millisecond), measure.MiB(e.rss), measure.MiB(e.peak), measure.MiB(e.heap))
	}
	for range rounds {
		for _, b := range bins {
			r, err := serve(c, b)
			if err != nil {
				return err
			}
			e := empty[b.name]
			fmt.Printf("| %s | full | %s | %s | %s | %s | %d |\n", b.name, r.ready.Round(10*time.Millisecond), measure.MiB(r.rss), measure.MiB(r.peak),
				measure.MiB(r.heap), (r.heap-e.heap)/int64(n.total()))
		}
	}

	kinds, err := perKind(perKindN)
	if err != nil {
		return err
	}
	fmt.Printf("\nIn process, %d objects of each kind, heap kept per object by the informer's store:\n\n", perKindN)
	fmt.Println("| kind | JSON from the apiserver | before | after |")
	fmt.Println("|---|---|---|---|")
	for _, k := range kinds {
		fmt.Printf("| %s | %d B | %d B | %d B |\n", k.kind, k.json, k.before, k.after)
	}
	return nil
}

// serve starts the webhook as the harness does (the shipped config), waits
// for /readyz, lets it settle, reads its memory and stops it.
func serve(c *harness.Cluster, b binary) (result, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := measure.FreeAddr()
		if err != nil {
			return result{}, err
		}
		addrs[i] = a
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	p, err := measure.Start(filepath.Join(c.Dir, "scale-webhook.log"), b.path, "serve",
		"--config", filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml"),
		"--kubeconfig", c.Kubeconfig, "--host", "127.0.0.1", "--port", port,
		"--cert-dir", filepath.Join(c.Dir, "scale-certs"), "--health-addr", addrs[1], "--metrics-addr", addrs[2],
		"--shutdown-drain", "0s", "--log-level", "error")
	if err != nil {
		return result{}, err
	}
	defer p.Stop()
	r := result{bin: b}
	if r.ready, err = p.Until("ready", 5*time.Minute, measure.HTTPOK("http://"+addrs[1]+"/readyz")); err != nil {
		return r, fmt.Errorf("%s: %w", b.name, err)
	}
	// The heap right after the lists still holds their buffers: the lowest
	// heap over a few seconds is what the caches keep.
	time.Sleep(2 * time.Second)
	if r.heap, err = measure.HeapInUse("http://"+addrs[2]+"/metrics", 10, 500*time.Millisecond); err != nil {
		return r, err
	}
	r.rss, r.peak, err = p.Memory()
	return r, err
}
