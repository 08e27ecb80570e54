package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// gatewayAPIReview is a hand-written AdmissionReview of a Gateway API object
// sent through v1beta1: with matchPolicy Equivalent the apiserver converts
// the object to v1, the version of the webhook rule.
func gatewayAPIReview(t *testing.T, kind, resource, namespace, object string) admission.Request {
	t.Helper()
	raw := fmt.Sprintf(`{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "9a3e1c55-0000-4000-8000-000000000007",
    "kind": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": %q},
    "resource": {"group": "gateway.networking.k8s.io", "version": "v1", "resource": %q},
    "requestKind": {"group": "gateway.networking.k8s.io", "version": "v1beta1", "kind": %q},
    "name": "shop",
    "namespace": %q,
    "operation": "CREATE",
    "userInfo": {"username": "alice"},
    "object": %s
  }
}`, kind, resource, kind, namespace, object)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(raw), &review); err != nil || review.Request == nil {
		t.Fatalf("test review does not decode: %v\n%s", err, raw)
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

// TestGatewayAPIEndpoint: /gateway-hosts reviews HTTPRoutes with the
// Gateways of the index UseGatewayAPI wired in: denied in enforce, warned
// in an audit namespace, with exact messages.
func TestGatewayAPIEndpoint(t *testing.T) {
	scheme, err := config.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	idx := policies.NewGatewayAPIIndex()
	idx.SetGateway(&gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec: gatewayv1.GatewaySpec{Listeners: []gatewayv1.Listener{{
			Name: "a", Port: 443, Protocol: gatewayv1.HTTPSProtocolType, Hostname: ptr.To(gatewayv1.Hostname("*.a.example.com")),
			AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{
				From:     ptr.To(gatewayv1.NamespacesFromSelector),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "tenant-a"}},
			}},
		}}},
	})
	labels := map[string]map[string]string{"tenant-audit": {webhook.ModeLabel: "audit"}}
	lookup := func(_ context.Context, ns string) (map[string]string, error) { return labels[ns], nil }
	set := config.Default().Build(nil)
	set.UseGatewayAPI(idx)
	h := set.Endpoints(admission.NewDecoder(scheme), lookup)["/gateway-hosts"]
	route := func(ns, host string) string {
		return fmt.Sprintf(`{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": "shop", "namespace": %q},
  "spec": {"parentRefs": [{"name": "public", "namespace": "istio-ingress"}], "hostnames": [%q]}}`, ns, host)
	}
	msg := `[gateway-hosts] spec.hostnames[0]: hostname "www.a.example.com" is not usable by namespace "%s" on gateway "istio-ingress/public" (allowed for %s: none)`

	resp := h.Handle(context.Background(), gatewayAPIReview(t, "HTTPRoute", "httproutes", "tenant-a", route("tenant-a", "shop.a.example.com")))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Errorf("tenant-a's hostname: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	resp = h.Handle(context.Background(), gatewayAPIReview(t, "HTTPRoute", "httproutes", "tenant-b", route("tenant-b", "www.a.example.com")))
	if want := fmt.Sprintf(msg, "tenant-b", "tenant-b"); resp.Allowed || resp.Result.Code != http.StatusForbidden || resp.Result.Message != want {
		t.Errorf("tenant-b: allowed %v, code %d, message %q\nwant %q", resp.Allowed, resp.Result.Code, resp.Result.Message, want)
	}
	resp = h.Handle(context.Background(), gatewayAPIReview(t, "HTTPRoute", "httproutes", "tenant-audit", route("tenant-audit", "www.a.example.com")))
	if want := "[gateway-hosts] would deny: " + fmt.Sprintf(msg, "tenant-audit", "tenant-audit")[len("[gateway-hosts] "):]; !resp.Allowed || len(resp.Warnings) != 1 || resp.Warnings[0] != want {
		t.Errorf("audit: allowed %v, warnings %q\nwant %q", resp.Allowed, resp.Warnings, want)
	}
}
