package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

func TestParseGatewayHosts(t *testing.T) {
	c, err := config.Parse("config.yaml", []byte(`
policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  gatewayHosts:
    requireExplicitNamespace: true
    gatewayNamespaces: [istio-ingress, istio-egress]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := policies.GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress", "istio-egress"}, RequireExplicitNamespace: true}
	if got := c.Policies.GatewayHosts.GatewayHostsConfig; !slices.Equal(got.GatewayNamespaces, want.GatewayNamespaces) || got.RequireExplicitNamespace != want.RequireExplicitNamespace {
		t.Errorf("gatewayHosts = %+v, want %+v", got, want)
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{
			name: "empty list",
			yaml: "policies:\n  imageRewrite:\n    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  gatewayHosts:\n    gatewayNamespaces: []\n",
			want: "config.yaml:5: policies.gatewayHosts.gatewayNamespaces: Required value: at least one namespace where the ops team's Gateways live, e.g. istio-ingress",
		},
		{
			name: "duplicate",
			yaml: "policies:\n  imageRewrite:\n    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  gatewayHosts:\n    gatewayNamespaces:\n      - istio-ingress\n      - istio-ingress\n",
			want: `config.yaml:7: policies.gatewayHosts.gatewayNamespaces[1]: Duplicate value: "istio-ingress"`,
		},
		{
			name: "misspelt key",
			yaml: "policies:\n  imageRewrite:\n    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  gatewayHosts:\n    requireExplicitNamespaces: true\n",
			want: `config.yaml:5: unknown field "policies.gatewayHosts.requireExplicitNamespaces"`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("config.yaml", []byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestWatches: the informers are wired only for the policies that run:
// gateway-hosts (Istio's Gateways and VirtualServices, the Gateway API's
// Gateways) and job-proxy (Istio's webhook configurations, Nodes).
func TestWatches(t *testing.T) {
	c := config.Default()
	set := c.Build(nil)
	if got := len(c.Watches(set)); got != 3 || set.VirtualServices.Lookups == nil || set.Gateways.Lookups == nil || set.Pods.Lookups == nil ||
		set.HTTPRoutes.Lookups == nil || set.APIGateways.Lookups == nil {
		t.Errorf("enforce: %d watches, look-ups set: %v %v %v %v; want 3 (Istio's Gateways, the Gateway API's, Istio's injector) and all", got,
			set.VirtualServices.Lookups != nil, set.Gateways.Lookups != nil, set.Pods.Lookups != nil, set.HTTPRoutes.Lookups != nil)
	}
	c.Policies.GatewayHosts.Mode = webhook.Off
	set = c.Build(nil)
	if got := len(c.Watches(set)); got != 1 || set.VirtualServices.Lookups != nil || set.Pods.Lookups == nil {
		t.Errorf("gateway-hosts off: %d watches; want 1, for job-proxy only", got)
	}
	c.Policies.JobProxy.Mode = webhook.Off
	set = c.Build(nil)
	if got := c.Watches(set); got != nil || set.Pods.Lookups != nil {
		t.Errorf("both off: watches %v; want none and no look-ups", got)
	}
}

// istioReview is a hand-written AdmissionReview of an Istio object.
func istioReview(t *testing.T, kind, resource, namespace, name, operation, object string) admission.Request {
	t.Helper()
	raw := fmt.Sprintf(`{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "9a3e1c55-0000-4000-8000-000000000006",
    "kind": {"group": "networking.istio.io", "version": "v1", "kind": %q},
    "resource": {"group": "networking.istio.io", "version": "v1", "resource": %q},
    "requestKind": {"group": "networking.istio.io", "version": "v1beta1", "kind": %q},
    "name": %q,
    "namespace": %q,
    "operation": %q,
    "userInfo": {"username": "alice"},
    "object": %s
  }
}`, kind, resource, kind, name, namespace, operation, object)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(raw), &review); err != nil || review.Request == nil {
		t.Fatalf("test review does not decode: %v\n%s", err, raw)
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

// TestGatewayHostsEndpoint: the server's /gateway-hosts endpoint reviews
// VirtualServices and Gateways, each through its own chain, with the
// Gateways of the index UseGateways wired in; audit namespaces warn.
func TestGatewayHostsEndpoint(t *testing.T) {
	scheme, err := config.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	idx := policies.NewGatewayIndex()
	public := &istionetworkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec: istioapiv1alpha3.Gateway{Servers: []*istioapiv1alpha3.Server{{
			Port:  &istioapiv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"},
			Hosts: []string{"tenant-a/a.example.com", "tenant-a/*.a.example.com", "tenant-b/b.example.com", "tenant-audit/audit.example.com"},
		}}},
	}
	idx.SetGateway(public)
	idx.SetVirtualService(&istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "tenant-b"},
		Spec:       istioapiv1alpha3.VirtualService{Gateways: []string{"istio-ingress/public"}, Hosts: []string{"b.example.com"}},
	})
	labels := map[string]map[string]string{"tenant-audit": {webhook.ModeLabel: "audit"}}
	lookup := func(_ context.Context, ns string) (map[string]string, error) { return labels[ns], nil }
	set := config.Default().Build(nil)
	set.UseGateways(idx)
	h := set.Endpoints(admission.NewDecoder(scheme), lookup)["/gateway-hosts"]
	if h == nil {
		t.Fatal("no /gateway-hosts endpoint")
	}

	vs := func(ns, host string) string {
		return fmt.Sprintf(`{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
  "metadata": {"name": "shop", "namespace": %q},
  "spec": {"gateways": ["istio-ingress/public"], "hosts": [%q],
    "http": [{"route": [{"destination": {"host": "shop"}}]}]}}`, ns, host)
	}
	gw := func(ns string, hosts ...string) string {
		quoted, _ := json.Marshal(hosts)
		return fmt.Sprintf(`{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
  "metadata": {"name": "public", "namespace": %q},
  "spec": {"selector": {"istio": "ingressgateway"},
    "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": %s}]}}`, ns, quoted)
	}
	tests := []struct {
		name     string
		req      admission.Request
		allowed  bool
		code     int32
		message  string
		warnings []string
	}{
		{
			name:    "authorized VirtualService",
			req:     istioReview(t, "VirtualService", "virtualservices", "tenant-a", "shop", "CREATE", vs("tenant-a", "shop.a.example.com")),
			allowed: true, code: http.StatusOK,
		},
		{
			name: "another tenant's host",
			req:  istioReview(t, "VirtualService", "virtualservices", "tenant-a", "shop", "UPDATE", vs("tenant-a", "shop.b.example.com")),
			code: http.StatusForbidden,
			message: `[gateway-hosts] spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` +
				`(allowed for tenant-a: "a.example.com", "*.a.example.com")`,
		},
		{
			name:    "audit namespace",
			req:     istioReview(t, "VirtualService", "virtualservices", "tenant-audit", "shop", "CREATE", vs("tenant-audit", "a.example.com")),
			allowed: true, code: http.StatusOK,
			warnings: []string{`[gateway-hosts] would deny: spec.hosts[0]: host "a.example.com" is not authorized for namespace "tenant-audit" on gateway "istio-ingress/public" (allowed for tenant-audit: "audit.example.com")`},
		},
		{
			name: "tenant Gateway",
			req:  istioReview(t, "Gateway", "gateways", "tenant-a", "public", "CREATE", gw("tenant-a", "tenant-a/a.example.com")),
			code: http.StatusForbidden,
			message: `[gateway-hosts] metadata.namespace: a Gateway in namespace "tenant-a" could select the shared ingress pods and serve any host ` +
				`(allowed: Gateways in "istio-ingress", where the platform team authorizes your hosts as "tenant-a/<host>")`,
		},
		{
			name:    "Gateway change that unbinds a VirtualService's host",
			req:     istioReview(t, "Gateway", "gateways", "istio-ingress", "public", "UPDATE", gw("istio-ingress", "tenant-a/a.example.com")),
			allowed: true, code: http.StatusOK,
			warnings: []string{`[gateway-hosts] this change unbinds "b.example.com" of VirtualService "tenant-b/shop" (no longer authorized for tenant-b)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.Handle(context.Background(), tt.req)
			var msg string
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			if resp.Allowed != tt.allowed || resp.Result == nil || resp.Result.Code != tt.code || msg != tt.message {
				t.Errorf("response: allowed=%v code=%v message=%q\nwant allowed=%v code=%d message=%q", resp.Allowed, resp.Result, msg, tt.allowed, tt.code, tt.message)
			}
			if !slices.Equal(resp.Warnings, tt.warnings) {
				t.Errorf("warnings %q, want %q", resp.Warnings, tt.warnings)
			}
			for _, w := range resp.Warnings {
				if len(w) > 256 {
					t.Errorf("warning over 256 characters: %q", w)
				}
			}
			if strings.Contains(msg, "json:") || len(resp.Patches) != 0 {
				t.Errorf("unexpected Go error text or patch: %q %+v", msg, resp.Patches)
			}
		})
	}
}
