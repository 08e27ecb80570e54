package main

import "testing"

// TestReviewGatewayAPI: review judges Gateway API routes against the
// Gateways of --context, and against a Gateway among its inputs.
func TestReviewGatewayAPI(t *testing.T) {
	dir := t.TempDir()
	gateway := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
    - name: a
      port: 443
      protocol: HTTPS
      hostname: "*.a.example.com"
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {kubernetes.io/metadata.name: tenant-a}
`
	ctxFile := writeFile(t, dir, "context.yaml", gateway)
	routes := writeFile(t, dir, "routes.yaml", `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop
  namespace: tenant-a
spec:
  parentRefs: [{name: public, namespace: istio-ingress}]
  hostnames: [shop.a.example.com]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: steal
  namespace: tenant-b
spec:
  parentRefs: [{name: public, namespace: istio-ingress}]
  hostnames: [www.a.example.com]
`)
	want := `::error file=` + routes + `,line=10,title=HTTPRoute tenant-b/steal::[gateway-hosts] spec.hostnames[0]: hostname "www.a.example.com" is not usable by namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: none)
review: 2 objects, 1 denied, 0 with warnings
`
	code, stdout, stderr := runReview(t, "", "--context", ctxFile, "-o", "github", routes)
	if code != 1 || stdout != want || stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", code, stdout, want, stderr)
	}
	// The Gateway among the inputs counts as context too.
	both := writeFile(t, dir, "both.yaml", gateway+"---\n"+readFile(t, routes))
	code, stdout, _ = runReview(t, "", "-o", "github", both)
	if want := "review: 3 objects, 1 denied, 0 with warnings\n"; code != 1 || len(stdout) < len(want) || stdout[len(stdout)-len(want):] != want {
		t.Errorf("exit %d\nstdout:\n%s", code, stdout)
	}
}
