package policies

import (
	"fmt"
	"testing"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BenchmarkGatewayAPIRoute: one HTTPRoute check on the shared listener of
// apiGateway with 10 and with 10,000 other namespaces' routes on it: the
// ownership look-up is by gateway and hostname, so the check stays flat.
func BenchmarkGatewayAPIRoute(b *testing.B) {
	p := NewGatewayHosts(GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress"}})
	https := []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 443)}
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			idx := NewGatewayAPIIndex()
			idx.SetGateway(apiGateway())
			for i := range n {
				r := httpRoute(https, fmt.Sprintf("svc-%d.apps.example.com", i))
				idx.SetRoute("HTTPRoute", fmt.Sprintf("tenant-%d", i%500), fmt.Sprintf("r-%d", i), r.Spec.CommonRouteSpec, r.Spec.Hostnames)
			}
			route := httpRoute(https, "new.apps.example.com", "svc-3.apps.example.com")
			req := Request{Operation: "CREATE", Namespace: "tenant-new", NamespaceLabels: map[string]string{"tenant": "true"}, GatewayAPI: idx}
			b.ReportAllocs()
			for b.Loop() {
				if v := p.HTTPRoutes().Validate(req, route); len(v) != 1 {
					b.Fatalf("%d violations, want svc-3's owner", len(v))
				}
			}
		})
	}
}
