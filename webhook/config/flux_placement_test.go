package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// fluxReview is a hand-written AdmissionReview of a Flux object; object (and
// oldObject, for UPDATE and DELETE) are raw JSON.
func fluxReview(t *testing.T, group, version, kind, resource, namespace, operation, object, oldObject string) admission.Request {
	t.Helper()
	if object == "" {
		object = "null"
	}
	if oldObject == "" {
		oldObject = "null"
	}
	raw := fmt.Sprintf(`{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "f1c2d3e4-0000-4000-8000-00000000000b",
    "kind": {"group": %q, "version": %q, "kind": %q},
    "resource": {"group": %q, "version": %q, "resource": %q},
    "name": "podinfo",
    "namespace": %q,
    "operation": %q,
    "userInfo": {"username": "alice"},
    "object": %s,
    "oldObject": %s
  }
}`, group, version, kind, group, version, resource, namespace, operation, object, oldObject)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(raw), &review); err != nil || review.Request == nil {
		t.Fatalf("test review does not decode: %v\n%s", err, raw)
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

// TestFluxPlacementEndpoint: the server's /flux-placement endpoint reviews
// both kinds it is registered for, each through its own decoder and rules;
// UPDATE is checked like CREATE, DELETE passes.
func TestFluxPlacementEndpoint(t *testing.T) {
	scheme, err := config.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]string{"team-audit": {webhook.ModeLabel: "audit"}}
	lookup := func(_ context.Context, ns string) (map[string]string, error) { return labels[ns], nil }
	endpoints := config.Default().Build(nil).Endpoints(admission.NewDecoder(scheme), lookup)
	h := endpoints["/flux-placement"]
	if h == nil {
		t.Fatalf("no /flux-placement endpoint among %q", slices.Sorted(maps.Keys(endpoints)))
	}

	const (
		hrGroup, hrVersion, hrKind, hrResource = "helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases"
		ksGroup, ksVersion, ksKind, ksResource = "kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations"
	)
	release := func(ns, sa string) string {
		return fmt.Sprintf(`{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
  "metadata": {"name": "podinfo", "namespace": %q},
  "spec": {"interval": "10m", "serviceAccountName": %q,
    "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}}`, ns, sa)
	}
	// infraRelease installs into podinfo from a chart of flux-system.
	infraRelease := func(sa string) string {
		return fmt.Sprintf(`{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
  "metadata": {"name": "podinfo", "namespace": "flux-system"},
  "spec": {"interval": "10m", "targetNamespace": "podinfo", "serviceAccountName": %q,
    "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}}`, sa)
	}
	kustomization := func(ns, sa string) string {
		return fmt.Sprintf(`{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
  "metadata": {"name": "podinfo", "namespace": %q},
  "spec": {"interval": "10m", "prune": true, "path": "./deploy", "serviceAccountName": %q,
    "sourceRef": {"kind": "GitRepository", "name": "podinfo"}}}`, ns, sa)
	}
	const (
		hrDenial = `[flux-placement] spec.chart.spec.sourceRef.namespace: must be unset or "team-a", the namespace of the release (found "flux-system"); ` +
			`[flux-placement] spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "helm-controller")`
		ksDenial = `[flux-placement] spec.serviceAccountName: must be "kustomize-controller" for kustomizations in flux-system (found "deployer")`
	)

	tests := []struct {
		name     string
		req      admission.Request
		allowed  bool
		code     int32
		message  string
		warnings []string
	}{
		{
			name: "tenant HelmRelease as helm-controller with the platform's chart",
			req:  fluxReview(t, hrGroup, hrVersion, hrKind, hrResource, "team-a", "CREATE", release("team-a", "helm-controller"), ""),
			code: http.StatusForbidden, message: hrDenial,
		},
		{
			name: "the same on UPDATE",
			req:  fluxReview(t, hrGroup, hrVersion, hrKind, hrResource, "team-a", "UPDATE", release("team-a", "helm-controller"), release("team-a", "deployer")),
			code: http.StatusForbidden, message: hrDenial,
		},
		{
			name:    "an UPDATE that fixes a violating HelmRelease",
			req:     fluxReview(t, hrGroup, hrVersion, hrKind, hrResource, "flux-system", "UPDATE", infraRelease("helm-controller"), infraRelease("default")),
			allowed: true, code: http.StatusOK,
		},
		{
			name:    "DELETE of a violating HelmRelease",
			req:     fluxReview(t, hrGroup, hrVersion, hrKind, hrResource, "team-a", "DELETE", "", release("team-a", "helm-controller")),
			allowed: true, code: http.StatusOK, message: "operation DELETE is not checked",
		},
		{
			name: "infra Kustomization as a tenant account",
			req:  fluxReview(t, ksGroup, ksVersion, ksKind, ksResource, "flux-system", "CREATE", kustomization("flux-system", "deployer"), ""),
			code: http.StatusForbidden, message: ksDenial,
		},
		{
			name:    "tenant Kustomization with its own account",
			req:     fluxReview(t, ksGroup, ksVersion, ksKind, ksResource, "team-a", "CREATE", kustomization("team-a", "deployer"), ""),
			allowed: true, code: http.StatusOK,
		},
		{
			name:    "audit namespace: warnings, allowed",
			req:     fluxReview(t, ksGroup, ksVersion, ksKind, ksResource, "team-audit", "CREATE", kustomization("team-audit", ""), ""),
			allowed: true, code: http.StatusOK,
			warnings: []string{`[flux-placement] would deny: spec.serviceAccountName: must be set to a service account of namespace "team-audit" (found none)`},
		},
		{
			name: "a kind the endpoint does not review",
			req:  fluxReview(t, "source.toolkit.fluxcd.io", "v1", "HelmRepository", "helmrepositories", "team-a", "CREATE", `{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository", "metadata": {"name": "podinfo"}}`, ""),
			code: http.StatusBadRequest, message: "this webhook does not review HelmRepository.source.toolkit.fluxcd.io",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.Handle(context.Background(), tt.req)
			if resp.Allowed != tt.allowed || resp.Result == nil || resp.Result.Code != tt.code || resp.Result.Message != tt.message {
				t.Errorf("response: allowed=%v code=%v message=%q\nwant allowed=%v code=%d message=%q",
					resp.Allowed, resp.Result, resultMessage(resp), tt.allowed, tt.code, tt.message)
			}
			if !slices.Equal(resp.Warnings, tt.warnings) {
				t.Errorf("warnings %q, want %q", resp.Warnings, tt.warnings)
			}
			if len(resp.Patches) != 0 || resp.Patch != nil {
				t.Errorf("a validating policy answered with a patch: %+v", resp.Patches)
			}
		})
	}
}

func resultMessage(resp admission.Response) string {
	if resp.Result == nil {
		return ""
	}
	return resp.Result.Message
}
