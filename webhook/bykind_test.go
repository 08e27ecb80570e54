package webhook_test

import (
	"context"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/webhook"
)

// named answers allowed with its name as the message.
func named(name string) admission.Handler {
	return admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed(name)
	})
}

func kindRequest(group, version, kind string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "b7c2d3e4-0000-4000-8000-00000000000c", Operation: admissionv1.Create,
		Kind: metav1.GroupVersionKind{Group: group, Version: version, Kind: kind},
	}}
}

func TestByKind(t *testing.T) {
	b := webhook.ByKind{
		{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}:        named("helmreleases"),
		{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}: named("kustomizations"),
	}
	h := b.Handler()
	tests := []struct {
		name    string
		req     admission.Request
		allowed bool
		code    int32
		message string
	}{
		{"HelmRelease", kindRequest("helm.toolkit.fluxcd.io", "v2", "HelmRelease"), true, http.StatusOK, "helmreleases"},
		{"any version of the kind", kindRequest("helm.toolkit.fluxcd.io", "v2beta2", "HelmRelease"), true, http.StatusOK, "helmreleases"},
		{"Kustomization", kindRequest("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"), true, http.StatusOK, "kustomizations"},
		{"same kind name, other group", kindRequest("kustomize.config.k8s.io", "v1beta1", "Kustomization"), false, http.StatusBadRequest,
			"this webhook does not review Kustomization.kustomize.config.k8s.io"},
		{"core kind", kindRequest("", "v1", "Pod"), false, http.StatusBadRequest, "this webhook does not review Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.Handle(context.Background(), tt.req)
			if resp.Allowed != tt.allowed || resp.Result.Code != tt.code || resp.Result.Message != tt.message {
				t.Errorf("allowed=%v code=%d message=%q, want allowed=%v code=%d message=%q",
					resp.Allowed, resp.Result.Code, resp.Result.Message, tt.allowed, tt.code, tt.message)
			}
		})
	}

	// One kind: its handler as it is, whatever the request's kind says.
	one := webhook.ByKind{schema.GroupKind{Kind: "Pod"}: named("pods")}.Handler()
	if resp := one.Handle(context.Background(), kindRequest("", "v1", "Binding")); !resp.Allowed || resp.Result.Message != "pods" {
		t.Errorf("single-kind endpoint: allowed=%v message=%q, want the pod handler's answer", resp.Allowed, resp.Result.Message)
	}
}
