package main

import (
	"testing"
)

// TestReviewGatewayHosts: in review, gateway-hosts looks Gateways up in
// --context and among the reviewed files, of any served version.
func TestReviewGatewayHosts(t *testing.T) {
	dir := t.TempDir()
	gateway := writeFile(t, dir, "cluster/gateway.yaml", `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: public
  namespace: istio-ingress
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [tenant-a/a.example.com, tenant-a/*.a.example.com]
`)
	vs := writeFile(t, dir, "apps/shop.yaml", `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: shop
  namespace: tenant-a
spec:
  gateways: [istio-ingress/public]
  hosts: [shop.a.example.com]
  http:
    - route: [{destination: {host: shop}}]
`)

	t.Run("gateway from --context", func(t *testing.T) {
		code, _, stderr := runReview(t, "", "--context", gateway, vs)
		if code != 0 || stderr != "" {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
		}
	})
	t.Run("gateway among the inputs", func(t *testing.T) {
		code, _, stderr := runReview(t, "", vs, gateway)
		if code != 0 || stderr != "" {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
		}
	})
	t.Run("no gateway known", func(t *testing.T) {
		code, _, stderr := runReview(t, "", vs)
		want := "Denied: VirtualService tenant-a/shop (" + vs + `:1): [gateway-hosts] spec.gateways[0]: gateway "istio-ingress/public" does not exist (existing gateways: none)` + "\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr\n%s\nwant 1 and\n%s", code, stderr, want)
		}
	})
	t.Run("host of another namespace", func(t *testing.T) {
		other := writeFile(t, dir, "apps/other.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: tenant-b
spec:
  gateways: [istio-ingress/public]
  hosts: [shop.a.example.com]
`)
		code, _, stderr := runReview(t, "", "--context", dir+"/cluster", other)
		want := "Denied: VirtualService tenant-b/shop (" + other + `:1): [gateway-hosts] spec.hosts[0]: host "shop.a.example.com" is not authorized for namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: none)` + "\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr\n%s\nwant 1 and\n%s", code, stderr, want)
		}
	})
	t.Run("tenant gateway", func(t *testing.T) {
		own := writeFile(t, dir, "apps/gateway.yaml", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: own
  namespace: tenant-a
spec:
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [tenant-a/a.example.com]
`)
		code, _, stderr := runReview(t, "", own)
		want := "Denied: Gateway tenant-a/own (" + own + `:1): [gateway-hosts] metadata.namespace: a Gateway in namespace "tenant-a" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-ingress", where the platform team authorizes your hosts as "tenant-a/<host>")` + "\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr\n%s\nwant 1 and\n%s", code, stderr, want)
		}
	})
}
