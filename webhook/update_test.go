package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/webhook"
)

// updateCase is a raw UPDATE AdmissionReview, from old to object, and what
// the endpoint must answer.
type updateCase struct {
	name        string
	path        string
	kind        string // "Pod", "HelmRelease", "VirtualService", "Gateway"
	subResource string
	namespace   string
	old, object string
	// denial is the exact message of a denial; "" when allowed.
	denial   string
	warnings []string
	// patch is the exact patch of an allowed mutation (ops as JSON).
	patch []string
}

var updateKinds = map[string]struct {
	kind     metav1.GroupVersionKind
	resource metav1.GroupVersionResource
}{
	"Pod":         {podKind, podResource},
	"HelmRelease": {metav1.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"}, metav1.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}},
	"VirtualService": {metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
		metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}},
	"Gateway": {metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
		metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}},
}

func (c updateCase) request() admission.Request {
	k := updateKinds[c.kind]
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: reviewUID, Kind: k.kind, Resource: k.resource, SubResource: c.subResource,
		Name: "obj", Namespace: c.namespace, Operation: admissionv1.Update,
		Object:    runtime.RawExtension{Raw: []byte(c.object)},
		OldObject: runtime.RawExtension{Raw: []byte(c.old)},
	}}
}

// Objects that broke a rule before enforcement (admitted in audit mode).
const (
	// tenantRelease runs as helm-controller in tenant-a.
	tenantRelease = `{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
  "metadata": {"name": "redis", "namespace": "tenant-a"%s},
  "spec": {"interval": "%s", "serviceAccountName": "helm-controller",
    "chart": {"spec": {"chart": "redis", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}}}%s}`
	tenantReleaseDenial = `spec.serviceAccountName: must be a service account of namespace "tenant-a", not a Flux controller's (found "helm-controller")`

	// hijackingVS binds tenant-b's host from tenant-a.
	hijackingVS = `{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
  "metadata": {"name": "shop", "namespace": "tenant-a"%s},
  "spec": {"gateways": ["istio-ingress/public"], "hosts": ["%s"],
    "http": [{"route": [{"destination": {"host": "shop"}}]}]}}`
	hijackDenial = `spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a.example.com", "*.a.example.com")`

	// tenantGateway is a Gateway outside the gateway namespaces.
	tenantGateway = `{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
  "metadata": {"name": "own", "namespace": "tenant-a"%s},
  "spec": {"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["%s"]}]}}`
	tenantGatewayDenial = `metadata.namespace: a Gateway in namespace "tenant-a" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-ingress", where the platform team authorizes your hosts as "tenant-a/<host>")`
)

func podWith(namespace, metadata string, containers string, ephemeral string) string {
	eph := ""
	if ephemeral != "" {
		eph = `, "ephemeralContainers": [` + ephemeral + `]`
	}
	return `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "` + namespace + `"` + metadata + `},
  "spec": {"containers": [` + containers + `]` + eph + `}}`
}

const (
	mirroredApp     = `{"name": "app", "image": "` + mirror + `/docker-hub/library/nginx:1.27"}`
	cacheRedis      = `{"name": "cache", "image": "redis:7.2"}` // admitted in audit mode
	firstDebug      = `{"name": "first", "image": "busybox:1.36", "targetContainerName": "app"}`
	registryAllowed = `(allowed: images under "` + mirror + `/")`
	cacheExisting   = `[image-registry] existing violation: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + registryAllowed
)

var updateCases = []updateCase{
	// Pods: judged by the images the update brings in.
	{
		name: "kubectl set image: rewritten to the mirror", path: "/image-rewrite", kind: "Pod", namespace: "tenant-enforce",
		old:    podWith("tenant-enforce", "", mirroredApp+", "+cacheRedis, ""),
		object: podWith("tenant-enforce", "", `{"name": "app", "image": "docker.io/library/redis:7.2"}, `+cacheRedis, ""),
		patch: []string{
			`{"op": "replace", "path": "/spec/containers/0/image", "value": "` + mirror + `/docker-hub/library/redis:7.2"}`,
			`{"op": "add", "path": "/metadata/annotations", "value": {"platform-webhook.flux-infra.io/original-images": "{\"app\":\"docker.io/library/redis:7.2\"}"}}`,
		},
	},
	{
		name: "a label on a pod with an unmirrored image: not rewritten", path: "/image-rewrite", kind: "Pod", namespace: "tenant-enforce",
		old:    podWith("tenant-enforce", "", mirroredApp+", "+cacheRedis, ""),
		object: podWith("tenant-enforce", `, "labels": {"x": "1"}`, mirroredApp+", "+cacheRedis, ""),
	},
	{
		name: "an image outside the mirror patched in: denied, the untouched one is a warning", path: "/image-registry", kind: "Pod", namespace: "tenant-enforce",
		old:      podWith("tenant-enforce", "", mirroredApp+", "+cacheRedis, ""),
		object:   podWith("tenant-enforce", "", `{"name": "app", "image": "quay.io/evil/miner:1"}, `+cacheRedis, ""),
		denial:   `[image-registry] spec.containers[0].image: container "app" uses "quay.io/evil/miner:1" which is not in the mirror ` + registryAllowed,
		warnings: []string{cacheExisting},
	},
	{
		name: "an invalid image reference patched in: denied as such", path: "/image-registry", kind: "Pod", namespace: "tenant-enforce",
		old:    podWith("tenant-enforce", "", mirroredApp, ""),
		object: podWith("tenant-enforce", "", `{"name": "app", "image": "nginx:1.27:latest"}`, ""),
		denial: `[image-registry] spec.containers[0].image: container "app" uses "nginx:1.27:latest" which is not a valid image reference (expected [registry[:port]/]repository[:tag][@digest])`,
	},
	{
		name: "a mirrored image set: allowed, the untouched one is a warning", path: "/image-registry", kind: "Pod", namespace: "tenant-enforce",
		old:      podWith("tenant-enforce", "", mirroredApp+", "+cacheRedis, ""),
		object:   podWith("tenant-enforce", "", `{"name": "app", "image": "`+mirror+`/docker-hub/library/nginx:1.28"}, `+cacheRedis, ""),
		warnings: []string{cacheExisting},
	},
	{
		name: "second kubectl debug: only the new ephemeral container rewritten", path: "/image-rewrite", kind: "Pod", subResource: "ephemeralcontainers", namespace: "tenant-enforce",
		old:    podWith("tenant-enforce", "", mirroredApp, firstDebug),
		object: podWith("tenant-enforce", "", mirroredApp, firstDebug+`, {"name": "second", "image": "busybox:1.37", "targetContainerName": "app"}`),
		patch:  []string{`{"op": "replace", "path": "/spec/ephemeralContainers/1/image", "value": "` + mirror + `/docker-hub/library/busybox:1.37"}`},
	},
	{
		name: "second kubectl debug, rewritten: the first debug container is a warning", path: "/image-registry", kind: "Pod", subResource: "ephemeralcontainers", namespace: "tenant-enforce",
		old:      podWith("tenant-enforce", "", mirroredApp, firstDebug),
		object:   podWith("tenant-enforce", "", mirroredApp, firstDebug+`, {"name": "second", "image": "`+mirror+`/docker-hub/library/busybox:1.37"}`),
		warnings: []string{`[image-registry] existing violation: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + registryAllowed},
	},

	// Validators on metadata-only updates: existing violations are warnings.
	{
		name: "kubectl label on a HelmRelease that predates enforcement", path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old:      sprintf(tenantRelease, "", "10m", ""),
		object:   sprintf(tenantRelease, `, "labels": {"team": "shop"}`, "10m", ""),
		warnings: []string{"[flux-placement] existing violation: " + tenantReleaseDenial},
	},
	{
		name: "flux reconcile (an annotation) and a finalizer, status changed too", path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old: sprintf(tenantRelease, "", "10m", `, "status": {"observedGeneration": 1}`),
		object: sprintf(tenantRelease, `, "annotations": {"reconcile.fluxcd.io/requestedAt": "2026-12-01T10:00:00Z"}, "finalizers": ["finalizers.fluxcd.io"],
  "managedFields": [{"manager": "flux", "operation": "Update", "apiVersion": "helm.toolkit.fluxcd.io/v2"}]`, "10m", `, "status": {"observedGeneration": 2}`),
		warnings: []string{"[flux-placement] existing violation: " + tenantReleaseDenial},
	},
	{
		name: "the same HelmRelease, spec changed: denied", path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old:    sprintf(tenantRelease, "", "10m", ""),
		object: sprintf(tenantRelease, `, "labels": {"team": "shop"}`, "5m", ""),
		denial: "[flux-placement] " + tenantReleaseDenial,
	},
	{
		name: "a spec field the webhook's types do not know changed: denied", path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old:    sprintf(tenantRelease, "", "10m", ""),
		object: strings.Replace(sprintf(tenantRelease, "", "10m", ""), `"interval"`, `"someFutureField": true, "interval"`, 1),
		denial: "[flux-placement] " + tenantReleaseDenial,
	},
	{
		name: "a finalizer removed from a HelmRelease being deleted: allowed without review", path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old:    sprintf(tenantRelease, `, "deletionTimestamp": "2026-12-01T10:00:00Z", "finalizers": ["finalizers.fluxcd.io"]`, "10m", ""),
		object: sprintf(tenantRelease, `, "deletionTimestamp": "2026-12-01T10:00:00Z"`, "10m", ""),
	},
	{
		name: "kubectl label on a VirtualService that predates enforcement", path: "/gateway-hosts", kind: "VirtualService", namespace: "tenant-a",
		old:      sprintf(hijackingVS, "", "shop.b.example.com"),
		object:   sprintf(hijackingVS, `, "labels": {"team": "shop"}`, "shop.b.example.com"),
		warnings: []string{"[gateway-hosts] existing violation: " + hijackDenial},
	},
	{
		name: "a VirtualService's hosts changed: denied", path: "/gateway-hosts", kind: "VirtualService", namespace: "tenant-a",
		old:    sprintf(hijackingVS, "", "a.example.com"),
		object: sprintf(hijackingVS, `, "labels": {"team": "shop"}`, "shop.b.example.com"),
		denial: "[gateway-hosts] " + hijackDenial,
	},
	{
		name: "kubectl annotate on a Gateway that predates enforcement", path: "/gateway-hosts", kind: "Gateway", namespace: "tenant-a",
		old:      sprintf(tenantGateway, "", "a.example.com"),
		object:   sprintf(tenantGateway, `, "annotations": {"note": "x"}`, "a.example.com"),
		warnings: []string{"[gateway-hosts] existing violation: " + tenantGatewayDenial},
	},
	{
		name: "the same Gateway, servers changed: denied", path: "/gateway-hosts", kind: "Gateway", namespace: "tenant-a",
		old:    sprintf(tenantGateway, "", "a.example.com"),
		object: sprintf(tenantGateway, "", "b.example.com"),
		denial: "[gateway-hosts] " + tenantGatewayDenial,
	},
}

func TestUpdates(t *testing.T) {
	h := serverHandlers(t, shippedConfig, false)
	for _, c := range updateCases {
		t.Run(c.name, func(t *testing.T) {
			resp := h[c.path].Handle(context.Background(), c.request())
			if c.denial != "" {
				if resp.Allowed || resp.Result.Code != http.StatusForbidden || resp.Result.Message != c.denial {
					t.Errorf("allowed %v, result %+v; want 403 %q", resp.Allowed, resp.Result, c.denial)
				}
			} else if !resp.Allowed {
				t.Errorf("denied: %+v", resp.Result)
			}
			if !reflect.DeepEqual(resp.Warnings, c.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", resp.Warnings, c.warnings)
			}
			checkOps(t, resp, c.patch...)
		})
	}
}

// In audit mode a metadata-only update says "existing violation" too (enforce
// would not deny it either), and a spec change says "would deny".
func TestUpdatesAudit(t *testing.T) {
	h := serverHandlers(t, auditConfigAll(t), false)
	labelled := updateCase{path: "/flux-placement", kind: "HelmRelease", namespace: "tenant-a",
		old: sprintf(tenantRelease, "", "10m", ""), object: sprintf(tenantRelease, `, "labels": {"team": "shop"}`, "10m", "")}
	changed := labelled
	changed.object = sprintf(tenantRelease, "", "5m", "")
	for _, c := range []struct {
		c    updateCase
		want []string
	}{
		{labelled, []string{"[flux-placement] existing violation: " + tenantReleaseDenial}},
		{changed, []string{"[flux-placement] would deny: " + tenantReleaseDenial}},
	} {
		resp := h[c.c.path].Handle(context.Background(), c.c.request())
		if !resp.Allowed {
			t.Errorf("audit denied: %+v", resp.Result)
		}
		if !reflect.DeepEqual(resp.Warnings, c.want) {
			t.Errorf("warnings:\n got %q\nwant %q", resp.Warnings, c.want)
		}
	}
}

func TestMetadataOnly(t *testing.T) {
	for _, c := range []struct {
		old, obj string
		want     bool
	}{
		{`{"metadata": {"name": "a"}, "spec": {"x": 1}}`, `{"metadata": {"name": "a", "labels": {"l": "v"}}, "spec": {"x": 1}}`, true},
		{`{"metadata": {}, "spec": {"x": 1}, "status": {"s": 1}}`, `{"metadata": {}, "spec": {"x": 1}, "status": {"s": 2}}`, true},
		{`{"spec": {"x": 1}}`, `{"spec": {"x": 1.0}}`, true},
		{`{"spec": {"x": 1}}`, `{"spec": {"x": 2}}`, false},
		{`{"spec": {"x": 1}}`, `{"spec": {"x": 1}, "data": {}}`, false},
		{`{"spec": {"x": 1}}`, `{"spec": {"x": 1, "new": null}}`, false},
		{`{"spec": {"x": 1}}`, `not json`, false},
		{``, `{"spec": {}}`, false},
	} {
		if got := webhook.MetadataOnly([]byte(c.old), []byte(c.obj)); got != c.want {
			t.Errorf("MetadataOnly(%s, %s) = %v, want %v", c.old, c.obj, got, c.want)
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
