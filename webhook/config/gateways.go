package config

import (
	"context"
	"fmt"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// Watches wires the set's look-ups beyond namespace labels to informers the
// server starts, and returns them: for gateway-hosts, unless it is off, the
// Gateways and VirtualServices of the cluster in one index; for job-proxy,
// unless it is off, Istio's injector webhook configurations and the Nodes'
// kubelet versions. With a policy off the webhook neither reads nor needs
// what only it reads.
func (c *Config) Watches(s Set) []webhook.Watch {
	var watches []webhook.Watch
	if c.ModeOf(policies.GatewayHosts) != webhook.Off {
		idx, api := policies.NewGatewayIndex(), policies.NewGatewayAPIIndex()
		s.UseGateways(idx)
		s.UseGatewayAPI(api)
		watches = append(watches, GatewayWatch(idx), GatewayAPIWatch(api))
	}
	if c.ModeOf(policies.JobProxy) != webhook.Off {
		// The server sees every webhook configuration: what it has not got
		// does not exist (no Istio webhook: no proxy).
		istio := policies.NewIstioCluster(true)
		s.UseIstio(istio)
		watches = append(watches, IstioWatch(istio))
	}
	return watches
}

// UseGateways makes the VirtualService and Gateway chains look Gateways up in
// idx (the server's informer-fed index, or review's --context). Call it
// before Endpoints, which copies the chains.
func (s Set) UseGateways(idx *policies.GatewayIndex) {
	lookup := func(req *policies.Request) { req.Gateways = idx }
	s.VirtualServices.Lookups = lookup
	s.Gateways.Lookups = lookup
}

// UseGatewayAPI makes the Gateway API chains look Gateways up in idx.
func (s Set) UseGatewayAPI(idx *policies.GatewayAPIIndex) {
	lookup := func(req *policies.Request) { req.GatewayAPI = idx }
	s.APIGateways.Lookups = lookup
	s.HTTPRoutes.Lookups = lookup
	s.GRPCRoutes.Lookups = lookup
	s.TLSRoutes.Lookups = lookup
	s.ListenerSets.Lookups = lookup
}

// GatewayAPIWatch keeps idx up to date from informers on Gateway API
// Gateways, HTTPRoutes, GRPCRoutes and TLSRoutes (the routes for hostname
// ownership on shared listeners). A kind whose CRD the cluster lacks has
// nothing to watch (and no object to review): it counts as synced.
// Installed later, it is seen after a restart.
func GatewayAPIWatch(idx *policies.GatewayAPIIndex) webhook.Watch {
	return func(ctx context.Context, c cache.Cache) (func() bool, error) {
		var synced []func() bool
		add := func(reg toolscache.ResourceEventHandlerRegistration, err error, what string) error {
			if meta.IsNoMatchError(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("gateway.networking.k8s.io %s informer: %w", what, err)
			}
			synced = append(synced, reg.HasSynced)
			return nil
		}
		reg, err := watch(ctx, c, &gatewayv1.Gateway{},
			func(gw *gatewayv1.Gateway) { idx.SetGateway(gw) },
			func(gw *gatewayv1.Gateway) { idx.DeleteGateway(gw.Namespace, gw.Name) })
		if err := add(reg, err, "gateway"); err != nil {
			return nil, err
		}
		reg, err = watch(ctx, c, &gatewayv1.HTTPRoute{},
			func(r *gatewayv1.HTTPRoute) {
				idx.SetRoute("HTTPRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.HTTPRoute) { idx.DeleteRoute("HTTPRoute", r.Namespace, r.Name) })
		if err := add(reg, err, "httproute"); err != nil {
			return nil, err
		}
		reg, err = watch(ctx, c, &gatewayv1.GRPCRoute{},
			func(r *gatewayv1.GRPCRoute) {
				idx.SetRoute("GRPCRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.GRPCRoute) { idx.DeleteRoute("GRPCRoute", r.Namespace, r.Name) })
		if err := add(reg, err, "grpcroute"); err != nil {
			return nil, err
		}
		reg, err = watch(ctx, c, &gatewayv1.TLSRoute{},
			func(r *gatewayv1.TLSRoute) {
				idx.SetRoute("TLSRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.TLSRoute) { idx.DeleteRoute("TLSRoute", r.Namespace, r.Name) })
		if err := add(reg, err, "tlsroute"); err != nil {
			return nil, err
		}
		// Namespaces' labels, for listeners' Selectors when a Gateway changes
		// (the same metadata informer the namespace look-up reads).
		reg, err = watch(ctx, c, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}},
			func(n *metav1.PartialObjectMetadata) { idx.SetNamespaceLabels(n.Name, n.Labels) },
			func(n *metav1.PartialObjectMetadata) { idx.DeleteNamespace(n.Name) })
		if err := add(reg, err, "namespace"); err != nil {
			return nil, err
		}
		reg, err = watch(ctx, c, &gatewayv1.ListenerSet{},
			func(ls *gatewayv1.ListenerSet) {
				common, hostnames := policies.ListenerSetRoutes(ls)
				idx.SetRoute("ListenerSet", ls.Namespace, ls.Name, common, hostnames)
			},
			func(ls *gatewayv1.ListenerSet) { idx.DeleteRoute("ListenerSet", ls.Namespace, ls.Name) })
		if err := add(reg, err, "listenerset"); err != nil {
			return nil, err
		}
		return func() bool {
			for _, s := range synced {
				if !s() {
					return false
				}
			}
			return true
		}, nil
	}
}

// GatewayWatch keeps idx up to date from informers on Gateways and
// VirtualServices, networking.istio.io/v1: the apiserver serves v1beta1 and
// v1alpha3 from the same stored objects, so watching v1 sees them all. It is
// synced once both informers' handlers have seen the initial list; from then
// on a request is answered from the index, never from the API.
func GatewayWatch(idx *policies.GatewayIndex) webhook.Watch {
	return func(ctx context.Context, c cache.Cache) (func() bool, error) {
		gateways, err := watch(ctx, c, &istionetworkingv1.Gateway{},
			func(gw *istionetworkingv1.Gateway) { idx.SetGateway(gw) },
			func(gw *istionetworkingv1.Gateway) { idx.DeleteGateway(gw.Namespace, gw.Name) })
		if err != nil {
			return nil, fmt.Errorf("gateway informer: %w", err)
		}
		virtualServices, err := watch(ctx, c, &istionetworkingv1.VirtualService{},
			func(vs *istionetworkingv1.VirtualService) { idx.SetVirtualService(vs) },
			func(vs *istionetworkingv1.VirtualService) { idx.DeleteVirtualService(vs.Namespace, vs.Name) })
		if err != nil {
			return nil, fmt.Errorf("virtualservice informer: %w", err)
		}
		return func() bool { return gateways.HasSynced() && virtualServices.HasSynced() }, nil
	}
}

// watch registers set (add, update) and remove on the cache's informer for
// T's kind. The informer starts with the manager.
func watch[T client.Object](ctx context.Context, c cache.Cache, obj T, set, remove func(T)) (toolscache.ResourceEventHandlerRegistration, error) {
	informer, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	return informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if t, ok := o.(T); ok {
				set(t)
			}
		},
		UpdateFunc: func(_, o any) {
			if t, ok := o.(T); ok {
				set(t)
			}
		},
		DeleteFunc: func(o any) {
			if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			if t, ok := o.(T); ok {
				remove(t)
			}
		},
	})
}
