package e2e

import (
	"fmt"
	"strings"
	"testing"
)

var sprintf = fmt.Sprintf

const apiGatewayManifest = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public-api
  namespace: %s
spec:
  gatewayClassName: istio
  listeners:
    - name: tenant-a
      port: 443
      protocol: HTTPS
      hostname: "*.a.example.com"
      tls:
        certificateRefs: [{name: a-tls}]
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels: {kubernetes.io/metadata.name: e2e-gwapi-a}
    - name: shared
      port: 443
      protocol: HTTPS
      hostname: "*.apps.example.com"
      tls:
        certificateRefs: [{name: apps-tls}]
      allowedRoutes:
        namespaces:
          from: All
`

func apiRoute(ns, name, host string) string {
	return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ` + name + `
  namespace: ` + ns + `
spec:
  parentRefs:
    - name: public-api
      namespace: istio-ingress
  hostnames: ["` + host + `"]
  rules:
    - backendRefs: [{name: ` + name + `, port: 80}]
`
}

// TestGatewayAPIHostnames: through the real apiserver with the Gateway API
// CRDs from the module, an HTTPRoute may use only hostnames a listener of
// its parent Gateway admits its namespace for; Gateways live in the
// gateway namespaces. kubectl's output word for word.
func TestGatewayAPIHostnames(t *testing.T) {
	waitNamespaceGone(t, "istio-ingress")
	namespace(t, "istio-ingress", nil)
	namespace(t, "e2e-gwapi-a", nil)
	namespace(t, "e2e-gwapi-b", nil)
	out, errOut := kubectl(t, sprintf(apiGatewayManifest, "istio-ingress"), "apply", "-f", "-")
	if out != "gateway.gateway.networking.k8s.io/public-api created\n" || errOut != "" {
		t.Fatalf("kubectl apply: stdout %q stderr %q", out, errOut)
	}
	waitForWebhookGateways(t, apiRoute("e2e-gwapi-a", "probe", "probe.a.example.com"), "Gateway istio-ingress/public-api",
		func(err error, _ string) bool { return err == nil })

	if out, errOut := kubectl(t, apiRoute("e2e-gwapi-a", "shop", "shop.a.example.com"), "apply", "-f", "-"); out != "httproute.gateway.networking.k8s.io/shop created\n" || errOut != "" {
		t.Errorf("tenant-a's own hostname: stdout %q stderr %q", out, errOut)
	}

	_, errOut, err := cluster.Kubectl(apiRoute("e2e-gwapi-b", "steal", "www.a.example.com"), "apply", "-f", "-")
	want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
		`[gateway-hosts] spec.hostnames[0]: hostname "www.a.example.com" is not usable by namespace "e2e-gwapi-b" on gateway "istio-ingress/public-api" (allowed for e2e-gwapi-b: "*.apps.example.com")` + "\n"
	if err == nil || errOut != want {
		t.Errorf("another tenant's hostname: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}

	// Ownership on the shared listener: tenant-a's route takes a hostname
	// first; tenant-b's route with the same hostname is denied, naming it.
	if out, errOut := kubectl(t, apiRoute("e2e-gwapi-a", "web", "web.apps.example.com"), "apply", "-f", "-"); out != "httproute.gateway.networking.k8s.io/web created\n" || errOut != "" {
		t.Errorf("the first route on web.apps.example.com: stdout %q stderr %q", out, errOut)
	}
	want = `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
		`[gateway-hosts] spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public-api" belongs to another namespace (HTTPRoute e2e-gwapi-a/web uses it)` + "\n"
	// The webhook sees tenant-a's route through its informer a moment later.
	waitForWebhookGateways(t, apiRoute("e2e-gwapi-b", "web", "web.apps.example.com"), "HTTPRoute e2e-gwapi-a/web",
		func(err error, stderr string) bool { return err != nil && stderr == want })
	if out, errOut := kubectl(t, apiRoute("e2e-gwapi-b", "api", "api.apps.example.com"), "apply", "-f", "-"); out != "httproute.gateway.networking.k8s.io/api created\n" || errOut != "" {
		t.Errorf("an unused hostname of the shared listener: stdout %q stderr %q", out, errOut)
	}

	// ListenerSets: a tenant's own custom domain under its grant is admitted;
	// another namespace's hostname is refused.
	listenerSet := func(ns, name, host string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: ` + name + `
  namespace: ` + ns + `
spec:
  parentRef: {name: public-api, namespace: istio-ingress}
  listeners:
    - name: custom
      port: 443
      protocol: HTTPS
      hostname: "` + host + `"
      tls:
        certificateRefs: [{name: custom-tls}]
`
	}
	if out, errOut := kubectl(t, listenerSet("e2e-gwapi-a", "custom", "shop.eu.a.example.com"), "apply", "-f", "-"); out != "listenerset.gateway.networking.k8s.io/custom created\n" || errOut != "" {
		t.Errorf("tenant-a's ListenerSet: stdout %q stderr %q", out, errOut)
	}
	_, errOut, err = cluster.Kubectl(listenerSet("e2e-gwapi-b", "custom", "web.apps.example.com"), "apply", "-f", "-")
	want = `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
		`[gateway-hosts] spec.listeners[0].hostname: hostname "web.apps.example.com" on gateway "istio-ingress/public-api" belongs to another namespace (HTTPRoute e2e-gwapi-a/web uses it)` + "\n"
	if err == nil || errOut != want {
		t.Errorf("tenant-b's ListenerSet on tenant-a's hostname: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}

	// The ops team drops the shared listener: admitted, with a warning
	// naming the routes that lose their hostnames.
	onlyA := apiGatewayManifest[:strings.Index(apiGatewayManifest, "    - name: shared")]
	out, errOut = kubectl(t, sprintf(onlyA, "istio-ingress"), "apply", "-f", "-")
	wantWarn := `Warning: [gateway-hosts] this change takes "web.apps.example.com" from HTTPRoute "e2e-gwapi-a/web" (no longer usable by e2e-gwapi-a)
Warning: [gateway-hosts] this change takes "api.apps.example.com" from HTTPRoute "e2e-gwapi-b/api" (no longer usable by e2e-gwapi-b)
`
	if out != "gateway.gateway.networking.k8s.io/public-api configured\n" || errOut != wantWarn {
		t.Errorf("dropping the shared listener: stdout %q\nstderr:\n%s\nwant:\n%s", out, errOut, wantWarn)
	}

	_, errOut, err = cluster.Kubectl(sprintf(apiGatewayManifest, "e2e-gwapi-b"), "apply", "-f", "-")
	want = `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
		`[gateway-hosts] metadata.namespace: a Gateway in namespace "e2e-gwapi-b" could take any hostname on the shared ingress (allowed: Gateways in "istio-ingress", whose listeners admit your namespace's routes)` + "\n"
	if err == nil || errOut != want {
		t.Errorf("a tenant Gateway: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}
}
