package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/test/bench/scale/objects"
)

// counts is the cluster the benchmark writes.
type counts struct {
	namespaces, nodes, gateways, routes, webhooks int
}

func (n counts) total() int { return n.namespaces + n.nodes + n.gateways + n.routes + n.webhooks }

func (n counts) String() string {
	return fmt.Sprintf("%d namespaces, %d Nodes, %d Gateways, %d routes, %d MWCs", n.namespaces, n.nodes, n.gateways, n.routes, n.webhooks)
}

// populate writes the cluster: the namespaces first (everything else lives
// in them), then each kind with workers in parallel. Half the Gateways and
// routes are Istio's, half the Gateway API's. Objects whose status the
// apiserver drops on create (a status subresource) get it written after.
func populate(ctx context.Context, c client.Client, n counts, workers int) error {
	ca, err := objects.CABundle()
	if err != nil {
		return err
	}
	gateways, routes := n.gateways/2, n.routes/2
	steps := []struct {
		what  string
		count int
		make  func(i int) client.Object
	}{
		{"namespaces", 2, func(i int) client.Object {
			return objects.System([]string{objects.IstioIngress, objects.GatewaySystem}[i])
		}},
		{"tenant namespaces", n.namespaces, func(i int) client.Object { return objects.Namespace(i) }},
		{"Nodes", n.nodes, func(i int) client.Object { return objects.Node(i) }},
		{"Istio Gateways", gateways, func(i int) client.Object { return objects.IstioGateway(i) }},
		{"Gateway API Gateways", gateways, func(i int) client.Object { return objects.APIGateway(i) }},
		{"VirtualServices", routes, func(i int) client.Object { return objects.VirtualService(i % n.namespaces) }},
		{"HTTPRoutes", routes, func(i int) client.Object { return objects.HTTPRoute(i % n.namespaces) }},
		{"MutatingWebhookConfigurations", n.webhooks, func(i int) client.Object { return objects.WebhookConfiguration(i, ca) }},
	}
	for _, s := range steps {
		start := time.Now()
		if err := parallel(s.count, workers, func(i int) error { return create(ctx, c, s.make(i)) }); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		fmt.Fprintf(os.Stderr, "created %d %s in %s\n", s.count, s.what, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// create creates o and, when the apiserver dropped its status, writes it.
func create(ctx context.Context, c client.Client, o client.Object) error {
	want := o.DeepCopyObject().(client.Object)
	if err := c.Create(ctx, o); err != nil {
		return err
	}
	if hasStatus(want) && !hasStatus(o) {
		want.SetResourceVersion(o.GetResourceVersion())
		want.SetUID(o.GetUID())
		return c.Status().Update(ctx, want)
	}
	return nil
}

// hasStatus says whether a Node or a Gateway API Gateway has its status.
func hasStatus(o client.Object) bool {
	switch t := o.(type) {
	case *corev1.Node:
		return t.Status.NodeInfo.KubeletVersion != ""
	case *gatewayv1.Gateway:
		return len(t.Status.Listeners) > 0
	}
	return false
}

// parallel runs f(0..n-1) on workers goroutines; the first error wins.
func parallel(n, workers int, f func(i int) error) error {
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if e := f(i); e != nil {
					once.Do(func() { err = e })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return err
}
