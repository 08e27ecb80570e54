package config

import (
	"context"
	"fmt"
	"slices"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
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
// Istio and Gateway API Gateways and routes, each kind watched while its CRD
// exists (installed after the webhook, it is watched from then on; see
// webhook.KindFollower); for job-proxy, unless it is off, Istio's injector
// webhook configurations and the Nodes' kubelet versions. With a policy off
// the webhook neither reads nor needs what only it reads.
func (c *Config) Watches(s Set) []webhook.Watch {
	var watches []webhook.Watch
	if c.ModeOf(policies.GatewayHosts) != webhook.Off {
		idx, api := policies.NewGatewayIndex(), policies.NewGatewayAPIIndex()
		s.UseGateways(idx)
		s.UseGatewayAPI(api)
		istioKinds, apiKinds := IstioGatewayKinds(idx), GatewayAPIKinds(api)
		follower := webhook.NewKindFollower(s.Metrics, slices.Concat(istioKinds, apiKinds)...)
		s.UseLoading(follower, crdNames(istioKinds), crdNames(apiKinds))
		watches = append(watches, follower.Watch(), NamespaceLabelsWatch(api))
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

// UseLoading makes the gateway-hosts chains say, while a kind they read is
// still loading, to retry rather than deny (istio: the Istio chains' CRDs,
// api: the Gateway API chains').
func (s Set) UseLoading(f *webhook.KindFollower, istio, api []string) {
	istioLoading := func() []string { return f.Loading(istio...) }
	apiLoading := func() []string { return f.Loading(api...) }
	s.VirtualServices.Loading = istioLoading
	s.Gateways.Loading = istioLoading
	s.APIGateways.Loading = apiLoading
	s.HTTPRoutes.Loading = apiLoading
	s.GRPCRoutes.Loading = apiLoading
	s.TLSRoutes.Loading = apiLoading
	s.ListenerSets.Loading = apiLoading
}

func crdNames(kinds []webhook.Kind) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.CRD
	}
	return names
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

// GatewayAPIKinds keep idx up to date from Gateway API Gateways, HTTPRoutes,
// GRPCRoutes, TLSRoutes (for hostname ownership on shared listeners) and
// ListenerSets.
func GatewayAPIKinds(idx *policies.GatewayAPIIndex) []webhook.Kind {
	return []webhook.Kind{
		kind("gateways.gateway.networking.k8s.io", &gatewayv1.Gateway{},
			func(gw *gatewayv1.Gateway) { idx.SetGateway(gw) },
			func(gw *gatewayv1.Gateway) { idx.DeleteGateway(gw.Namespace, gw.Name) }),
		kind("httproutes.gateway.networking.k8s.io", &gatewayv1.HTTPRoute{},
			func(r *gatewayv1.HTTPRoute) {
				idx.SetRoute("HTTPRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.HTTPRoute) { idx.DeleteRoute("HTTPRoute", r.Namespace, r.Name) }),
		kind("grpcroutes.gateway.networking.k8s.io", &gatewayv1.GRPCRoute{},
			func(r *gatewayv1.GRPCRoute) {
				idx.SetRoute("GRPCRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.GRPCRoute) { idx.DeleteRoute("GRPCRoute", r.Namespace, r.Name) }),
		kind("tlsroutes.gateway.networking.k8s.io", &gatewayv1.TLSRoute{},
			func(r *gatewayv1.TLSRoute) {
				idx.SetRoute("TLSRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			},
			func(r *gatewayv1.TLSRoute) { idx.DeleteRoute("TLSRoute", r.Namespace, r.Name) }),
		kind("listenersets.gateway.networking.k8s.io", &gatewayv1.ListenerSet{},
			func(ls *gatewayv1.ListenerSet) {
				common, hostnames := policies.ListenerSetRoutes(ls)
				idx.SetRoute("ListenerSet", ls.Namespace, ls.Name, common, hostnames)
			},
			func(ls *gatewayv1.ListenerSet) { idx.DeleteRoute("ListenerSet", ls.Namespace, ls.Name) }),
	}
}

// NamespaceLabelsWatch keeps the namespaces' labels in idx, for listeners'
// Selectors when a Gateway changes (the same metadata informer the namespace
// look-up reads).
func NamespaceLabelsWatch(idx *policies.GatewayAPIIndex) webhook.Watch {
	return func(ctx context.Context, c cache.Cache) (func() bool, error) {
		reg, err := watch(ctx, c, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}},
			func(n *metav1.PartialObjectMetadata) { idx.SetNamespaceLabels(n.Name, n.Labels) },
			func(n *metav1.PartialObjectMetadata) { idx.DeleteNamespace(n.Name) })
		if err != nil {
			return nil, fmt.Errorf("namespace informer: %w", err)
		}
		return reg.HasSynced, nil
	}
}

// IstioGatewayKinds keep idx up to date from Gateways and VirtualServices,
// networking.istio.io/v1: the apiserver serves v1beta1 and v1alpha3 from the
// same stored objects, so watching v1 sees them all.
func IstioGatewayKinds(idx *policies.GatewayIndex) []webhook.Kind {
	return []webhook.Kind{
		kind("gateways.networking.istio.io", &istionetworkingv1.Gateway{},
			func(gw *istionetworkingv1.Gateway) { idx.SetGateway(gw) },
			func(gw *istionetworkingv1.Gateway) { idx.DeleteGateway(gw.Namespace, gw.Name) }),
		kind("virtualservices.networking.istio.io", &istionetworkingv1.VirtualService{},
			func(vs *istionetworkingv1.VirtualService) { idx.SetVirtualService(vs) },
			func(vs *istionetworkingv1.VirtualService) { idx.DeleteVirtualService(vs.Namespace, vs.Name) }),
	}
}

// kind is a webhook.Kind whose handlers take T.
func kind[T client.Object](crd string, obj T, set, remove func(T)) webhook.Kind {
	return webhook.Kind{CRD: crd, Object: obj,
		Set: func(o any) {
			if t, ok := o.(T); ok {
				set(t)
			}
		},
		Remove: func(o any) {
			if t, ok := o.(T); ok {
				remove(t)
			}
		},
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
