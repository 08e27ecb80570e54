package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// gatewayManifest is an ops Gateway in istio-ingress with the given hosts.
func gatewayManifest(ns, name string, hosts ...string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: %s
  namespace: %s
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [%s]
`, name, ns, strings.Join(hosts, ", "))
}

// virtualServiceManifest binds hosts on gateways (none: mesh-bound) in
// apiVersion networking.istio.io/<version>.
func virtualServiceManifest(version, ns, name string, gateways []string, hosts ...string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/%s
kind: VirtualService
metadata:
  name: %s
  namespace: %s
spec:
  gateways: [%s]
  hosts: [%s]
  http:
    - route:
        - destination: {host: %s}
`, version, name, ns, strings.Join(gateways, ", "), strings.Join(hosts, ", "), name)
}

// waitForWebhookGateways retries a server-side dry run of manifest until
// stderr satisfies ok: the webhook reads Gateways and VirtualServices from
// its informer cache, never from the API while answering, so it sees a
// change a moment after it is written.
func waitForWebhookGateways(t *testing.T, manifest, what string, ok func(err error, stderr string) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, errOut, err := cluster.Kubectl(manifest, "apply", "--dry-run=server", "-f", "-")
		if ok(err, errOut) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the webhook never saw %s", what)
}

func TestGatewayHosts(t *testing.T) {
	waitNamespaceGone(t, "istio-ingress") // other tests make and delete it too
	namespace(t, "istio-ingress", nil)
	namespace(t, "e2e-gw-a", nil)
	namespace(t, "e2e-gw-b", nil)
	namespace(t, "e2e-gw-audit", map[string]string{"flux-infra.io/admission-mode": "audit"})

	public := []string{"e2e-gw-a/a.example.com", `"e2e-gw-a/*.a.example.com"`, "e2e-gw-b/b.example.com"}
	out, errOut := kubectl(t, gatewayManifest("istio-ingress", "public", public...), "apply", "-f", "-")
	if out != "gateway.networking.istio.io/public created\n" || errOut != "" {
		t.Fatalf("kubectl apply of the ops Gateway printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	waitForWebhookGateways(t, virtualServiceManifest("v1", "e2e-gw-a", "probe", []string{"istio-ingress/public"}, "a.example.com"),
		"Gateway istio-ingress/public", func(err error, _ string) bool { return err == nil })

	deny := func(t *testing.T, manifest, want string) {
		t.Helper()
		_, errOut, err := cluster.Kubectl(manifest, "apply", "-f", "-")
		if err == nil || errOut != want {
			t.Fatalf("kubectl apply: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
		}
	}
	const deniedPrefix = `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: `

	t.Run("authorized VirtualService admitted", func(t *testing.T) {
		out, errOut := kubectl(t, virtualServiceManifest("v1", "e2e-gw-a", "shop", []string{"istio-ingress/public"}, "shop.a.example.com"), "apply", "-f", "-")
		if out != "virtualservice.networking.istio.io/shop created\n" || errOut != "" {
			t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %q", out, errOut)
		}
	})

	t.Run("another tenant's host denied", func(t *testing.T) {
		deny(t, virtualServiceManifest("v1", "e2e-gw-a", "checkout", []string{"istio-ingress/public"}, "shop.b.example.com"),
			deniedPrefix+`[gateway-hosts] spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "e2e-gw-a" on gateway "istio-ingress/public" (allowed for e2e-gw-a: "a.example.com", "*.a.example.com")`+"\n")
	})

	t.Run("older API versions are reviewed too", func(t *testing.T) {
		for _, version := range []string{"v1beta1", "v1alpha3"} {
			deny(t, virtualServiceManifest(version, "e2e-gw-a", "checkout", []string{"istio-ingress/public"}, "b.example.com"),
				deniedPrefix+`[gateway-hosts] spec.hosts[0]: host "b.example.com" is not authorized for namespace "e2e-gw-a" on gateway "istio-ingress/public" (allowed for e2e-gw-a: "a.example.com", "*.a.example.com")`+"\n")
		}
	})

	t.Run("mesh-bound VirtualService on another namespace's service denied", func(t *testing.T) {
		deny(t, virtualServiceManifest("v1", "e2e-gw-a", "reviews", nil, "reviews.e2e-gw-b.svc.cluster.local"),
			deniedPrefix+`[gateway-hosts] spec.hosts[0]: host "reviews.e2e-gw-b.svc.cluster.local" is a service of namespace "e2e-gw-b" and would intercept its calls in the mesh (allowed: hosts of namespace "e2e-gw-a", or exportTo: ["."] to route only this namespace's calls)`+"\n")
	})

	t.Run("a Gateway created after the denial makes the retry pass", func(t *testing.T) {
		vs := virtualServiceManifest("v1", "e2e-gw-b", "api", []string{"istio-ingress/internal"}, "api.b.example.com")
		deny(t, vs, deniedPrefix+`[gateway-hosts] spec.gateways[0]: gateway "istio-ingress/internal" does not exist (existing gateways: "istio-ingress/public")`+"\n")

		out, errOut := kubectl(t, gatewayManifest("istio-ingress", "internal", "e2e-gw-b/api.b.example.com"), "apply", "-f", "-")
		if out != "gateway.networking.istio.io/internal created\n" || errOut != "" {
			t.Fatalf("kubectl apply of the Gateway printed\nstdout: %q\nstderr: %q", out, errOut)
		}
		waitForWebhookGateways(t, vs, "Gateway istio-ingress/internal", func(err error, _ string) bool { return err == nil })
		out, errOut = kubectl(t, vs, "apply", "-f", "-")
		if out != "virtualservice.networking.istio.io/api created\n" || errOut != "" {
			t.Fatalf("retry printed\nstdout: %q\nstderr: %q", out, errOut)
		}
	})

	t.Run("tenant Gateway denied", func(t *testing.T) {
		deny(t, gatewayManifest("e2e-gw-a", "own", "e2e-gw-a/a.example.com"),
			deniedPrefix+`[gateway-hosts] metadata.namespace: a Gateway in namespace "e2e-gw-a" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-ingress", where the platform team authorizes your hosts as "e2e-gw-a/<host>")`+"\n")
	})

	t.Run("audit namespace warns and admits", func(t *testing.T) {
		waitForAuditLabel(t, "e2e-gw-audit")
		out, errOut := kubectl(t, virtualServiceManifest("v1", "e2e-gw-audit", "shop", []string{"istio-ingress/public"}, "a.example.com"), "apply", "-f", "-")
		wantErr := `Warning: [gateway-hosts] would deny: spec.hosts[0]: host "a.example.com" is not authorized for namespace "e2e-gw-audit" on gateway "istio-ingress/public" (allowed for e2e-gw-audit: none)` + "\n"
		if out != "virtualservice.networking.istio.io/shop created\n" || errOut != wantErr {
			t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantErr)
		}
	})

	t.Run("Gateway change that unbinds hosts warns", func(t *testing.T) {
		// Without the wildcard, e2e-gw-a/shop's host is no longer authorized.
		narrowed := gatewayManifest("istio-ingress", "public", "e2e-gw-a/a.example.com", "e2e-gw-b/b.example.com")
		const warning = `Warning: [gateway-hosts] this change unbinds "shop.a.example.com" of VirtualService "e2e-gw-a/shop" (no longer authorized for e2e-gw-a)` + "\n"
		waitForWebhookGateways(t, narrowed, "VirtualService e2e-gw-a/shop", func(err error, stderr string) bool { return err == nil && stderr == warning })
		out, errOut := kubectl(t, narrowed, "apply", "-f", "-")
		if out != "gateway.networking.istio.io/public configured\n" || errOut != warning {
			t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, warning)
		}
	})
}
