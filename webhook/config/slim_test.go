package config_test

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/bench/scale/objects"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// slim is CacheTransform's result for o, checked to be of o's type and
// smaller (the transform is no use otherwise).
func slim[T any](t *testing.T, o T) T {
	t.Helper()
	out, err := config.CacheTransform(o)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := out.(T)
	if !ok {
		t.Fatalf("CacheTransform(%T) returned a %T", o, out)
	}
	before, _ := json.Marshal(o)
	after, _ := json.Marshal(s)
	if len(after) >= len(before) {
		t.Errorf("CacheTransform(%T) keeps %d of %d bytes", o, len(after), len(before))
	}
	return s
}

// TestCacheTransformIstio: the indexes gateway-hosts (Istio Gateways and
// VirtualServices) and job-proxy (webhook configurations, Nodes) read are
// the same built from the cached, transformed objects as from the objects.
func TestCacheTransformIstio(t *testing.T) {
	full, slimmed := policies.NewGatewayIndex(), policies.NewGatewayIndex()
	for g := range 3 {
		full.SetGateway(objects.IstioGateway(g))
		slimmed.SetGateway(slim(t, objects.IstioGateway(g)))
	}
	for i := range 3 * objects.TenantsPerGateway {
		full.SetVirtualService(objects.VirtualService(i))
		slimmed.SetVirtualService(slim(t, objects.VirtualService(i)))
	}
	if !reflect.DeepEqual(full, slimmed) {
		t.Error("the Istio Gateway index differs when built from transformed objects")
	}

	ca, err := objects.CABundle()
	if err != nil {
		t.Fatal(err)
	}
	fullIstio, slimIstio := policies.NewIstioCluster(true), policies.NewIstioCluster(true)
	for i := range 8 { // Istio's configurations and others
		fullIstio.SetWebhookConfiguration(objects.WebhookConfiguration(i, ca))
		slimIstio.SetWebhookConfiguration(slim(t, objects.WebhookConfiguration(i, ca)))
	}
	for i := range 5 {
		n, s := objects.Node(i), slim(t, objects.Node(i))
		fullIstio.SetNode(n.Name, n.Status.NodeInfo.KubeletVersion)
		slimIstio.SetNode(s.Name, s.Status.NodeInfo.KubeletVersion)
	}
	if !reflect.DeepEqual(fullIstio, slimIstio) {
		t.Error("job-proxy's IstioCluster differs when built from transformed objects")
	}
}

// TestCacheTransformGatewayAPI: gateway-hosts answers every tenant's route
// (its own listener, another tenant's, another tenant's hostname) and warns
// on a Gateway change the same with the index built from transformed
// Gateways, routes and namespaces as from the objects.
func TestCacheTransformGatewayAPI(t *testing.T) {
	const gateways = 2
	tenants := gateways * objects.TenantsPerGateway
	full, slimmed := policies.NewGatewayAPIIndex(), policies.NewGatewayAPIIndex()
	labels := map[string]map[string]string{}
	for i := range tenants {
		ns := objects.Namespace(i)
		meta := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: ns.ObjectMeta}
		s := slim(t, meta)
		full.SetNamespaceLabels(ns.Name, ns.Labels)
		slimmed.SetNamespaceLabels(s.Name, s.Labels)
		labels[ns.Name] = s.Labels
	}
	for g := range gateways {
		full.SetGateway(objects.APIGateway(g))
		slimmed.SetGateway(slim(t, objects.APIGateway(g)))
	}
	for i := range tenants {
		r, s := objects.HTTPRoute(i), slim(t, objects.HTTPRoute(i))
		full.SetRoute("HTTPRoute", r.Namespace, r.Name, r.Spec.CommonRouteSpec, r.Spec.Hostnames)
		slimmed.SetRoute("HTTPRoute", s.Namespace, s.Name, s.Spec.CommonRouteSpec, s.Spec.Hostnames)
	}
	p := policies.NewGatewayHosts(policies.GatewayHostsConfig{GatewayNamespaces: []string{objects.GatewaySystem}})
	denied := 0
	for i := range tenants {
		other := (i + 1) % tenants
		for _, route := range []*gatewayv1.HTTPRoute{
			objects.HTTPRoute(i), // its own: allowed
			withNamespace(objects.HTTPRoute(other), objects.Tenant(i)),                     // another tenant's listener
			withNamespace(withSection(objects.HTTPRoute(other), i), objects.Tenant(i)),     // another's hostname, own listener
			withNamespace(withSection(objects.HTTPRoute(i), other), objects.Tenant(other)), // taken hostnames
		} {
			route.Name = "new"
			req := func(idx *policies.GatewayAPIIndex) policies.Request {
				return policies.Request{Operation: "CREATE", Namespace: route.Namespace, Name: route.Name, NamespaceLabels: labels[route.Namespace], GatewayAPI: idx}
			}
			a, b := p.HTTPRoutes().Validate(req(full), route), p.HTTPRoutes().Validate(req(slimmed), route)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("HTTPRoute %s/%s: %v from the objects, %v from the cache", route.Namespace, route.Name, a, b)
			}
			if len(a) > 0 {
				denied++
			}
		}
	}
	if denied == 0 {
		t.Error("no route denied: the test checks nothing")
	}
	w := p.APIGateways().(policies.Warner[*gatewayv1.Gateway])
	changed := objects.APIGateway(0)
	changed.Spec.Listeners[0].Hostname = ptr.To(gatewayv1.Hostname("*.elsewhere.example.org"))
	req := func(idx *policies.GatewayAPIIndex) policies.Request {
		return policies.Request{Operation: "UPDATE", Namespace: changed.Namespace, Name: changed.Name, GatewayAPI: idx}
	}
	a, b := w.Warn(req(full), changed), w.Warn(req(slimmed), changed)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Errorf("Gateway change warns %q from the objects, %q from the cache", a, b)
	}
}

func withNamespace(r *gatewayv1.HTTPRoute, ns string) *gatewayv1.HTTPRoute {
	r.Namespace = ns
	return r
}

// withSection points r at tenant t's listener.
func withSection(r *gatewayv1.HTTPRoute, t int) *gatewayv1.HTTPRoute {
	r.Spec.ParentRefs[0] = objects.HTTPRoute(t).Spec.ParentRefs[0]
	return r
}

// TestCacheTransformOthers: objects the look-ups do not read are cached as
// they are.
func TestCacheTransformOthers(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{"a": "b"}}}
	if out, _ := config.CacheTransform(pod); out != any(pod) {
		t.Errorf("a Pod is transformed: %v", out)
	}
}
