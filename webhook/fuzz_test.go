package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/webhook"
)

// Fuzz targets for every endpoint's decode-and-handle path: an
// AdmissionReview is built around a fuzzed object and sent through
// controller-runtime's admission.Webhook.ServeHTTP, with panics not
// recovered, so a panic fails the target. The seed corpus is in
// testdata/fuzz/<target>/ (and the seeds f.Add gives); `make fuzz` runs each
// target longer. Every answer must hold checkAnswer's properties.

// fuzzKind is a kind an endpoint reviews.
type fuzzKind struct {
	kind     metav1.GroupVersionKind
	resource metav1.GroupVersionResource
}

// fuzzTarget is one endpoint: its path, kinds, and the namespaces requests
// come from (the last but one is in audit mode).
type fuzzTarget struct {
	path       string
	mutating   bool
	kinds      []fuzzKind
	namespaces [4]string
}

var (
	podFuzzKinds = []fuzzKind{{podKind, podResource}}
	podFuzzNS    = [4]string{"tenant-a", "tenant-mesh", "tenant-audit", "kube-system"}
	fuzzTargets  = map[string]fuzzTarget{
		"/image-rewrite":  {"/image-rewrite", true, podFuzzKinds, podFuzzNS},
		"/job-proxy":      {"/job-proxy", true, podFuzzKinds, podFuzzNS},
		"/image-registry": {"/image-registry", false, podFuzzKinds, podFuzzNS},
		"/flux-placement": {"/flux-placement", false, []fuzzKind{
			{metav1.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"},
				metav1.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}},
			{metav1.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"},
				metav1.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}},
		}, [4]string{"tenant-a", "flux-system", "tenant-audit", "kube-system"}},
		"/gateway-hosts": {"/gateway-hosts", false, []fuzzKind{
			{metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
				metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}},
			{metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
				metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}},
		}, [4]string{"tenant-a", "istio-ingress", "tenant-audit", "kube-system"}},
	}
	fuzzOperations   = [4]admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect}
	fuzzSubResources = [4]string{"", "", "ephemeralcontainers", "status"}
)

// fuzzRequest is the request sel picks for object: bits 0-1 the
// operation, 2-3 the subresource, 4-5 the namespace, 6 the kind, 7 dry run.
func (ft fuzzTarget) request(object []byte, sel byte) admissionv1.AdmissionRequest {
	k := ft.kinds[int(sel>>6&1)%len(ft.kinds)]
	op := fuzzOperations[sel&3]
	req := admissionv1.AdmissionRequest{
		UID:         "f0220000-0000-4000-8000-000000000009",
		Kind:        k.kind,
		Resource:    k.resource,
		SubResource: fuzzSubResources[sel>>2&3],
		Name:        "fuzzed",
		Namespace:   ft.namespaces[sel>>4&3],
		Operation:   op,
		DryRun:      ptr.To(sel>>7 == 1),
	}
	switch op {
	case admissionv1.Delete:
		req.OldObject.Raw = object
	case admissionv1.Update:
		req.Object.Raw, req.OldObject.Raw = object, object
	default:
		req.Object.Raw = object
	}
	return req
}

// serveRaw sends one review body through the webhook's ServeHTTP.
func serveRaw(t testing.TB, wh *admission.Webhook, body []byte) (int, admissionv1.AdmissionReview, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	wh.ServeHTTP(rec, r)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
		t.Fatalf("HTTP %d: not an AdmissionReview with a response (%v):\n%s", rec.Code, err, rec.Body.Bytes())
	}
	return rec.Code, review, rec.Body.Bytes()
}

// apiserverShaped says whether object could come from an apiserver: a JSON
// object with metadata (the patch is computed through the Go types, which
// always have metadata; the apiserver always sends it).
func apiserverShaped(object []byte) bool {
	var shape map[string]json.RawMessage // keys matched exactly, as the apiserver's decoder does
	if json.Unmarshal(object, &shape) != nil {
		return false
	}
	m := shape["metadata"]
	return len(m) > 0 && m[0] == '{'
}

// ourMessages are the only messages our handlers answer with when they do
// not decide (400, 500); denials start with "[<policy>] ".
var ourMessages = []string{
	"the admission review has no request (or its uid is empty)",
	"the object could not be decoded as ",
	"this webhook does not review ",
}

// checkAnswer checks the properties every answer holds: the uid of the
// request, a decision or one of our own messages (never Go error text), a
// patch only from a mutating endpoint that applies cleanly to the object it
// came from, warnings within the apiserver's limits, and in an audit
// namespace neither a denial nor a patch.
func checkAnswer(t *testing.T, ft fuzzTarget, req admissionv1.AdmissionRequest, status int, review admissionv1.AdmissionReview) {
	t.Helper()
	r := review.Response
	if status != http.StatusOK || review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		t.Fatalf("HTTP %d, %s %s; want 200 admission.k8s.io/v1 AdmissionReview", status, review.APIVersion, review.Kind)
	}
	if r.UID != req.UID {
		t.Fatalf("uid %q, want the request's %q", r.UID, req.UID)
	}
	if r.Result == nil {
		t.Fatalf("no result: %+v", r)
	}
	code, msg := r.Result.Code, r.Result.Message
	switch {
	case r.Allowed && code == http.StatusOK:
	case !r.Allowed && code == http.StatusForbidden:
		policy := strings.TrimPrefix(ft.path, "/")
		if !strings.HasPrefix(msg, "["+policy+"] ") {
			t.Fatalf("denial %q does not start with [%s]", msg, policy)
		}
	case !r.Allowed && code == http.StatusBadRequest:
		known := false
		for _, m := range ourMessages {
			known = known || strings.HasPrefix(msg, m)
		}
		if !known {
			t.Fatalf("400 with message %q, not one of ours", msg)
		}
		for _, s := range goErrorText {
			if strings.Contains(msg, s) {
				t.Fatalf("message %q shows Go error text %q", msg, s)
			}
		}
	default:
		t.Fatalf("allowed %v with result %+v", r.Allowed, r.Result)
	}

	total := 0
	for _, w := range r.Warnings {
		if len(w) > 256 {
			t.Fatalf("warning of %d characters: %q", len(w), w)
		}
		total += len(w)
	}
	if total > 4096 {
		t.Fatalf("warnings of %d characters together", total)
	}

	if len(r.Patch) > 0 || r.PatchType != nil {
		if !ft.mutating {
			t.Fatalf("validating endpoint %s patched: %s", ft.path, r.Patch)
		}
		if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch %s with allowed %v, type %v", r.Patch, r.Allowed, r.PatchType)
		}
		if _, err := applyJSONPatch(r.Patch, req.Object.Raw); err != nil {
			t.Fatalf("patch %s does not apply to the object: %v\nobject: %s", r.Patch, err, req.Object.Raw)
		}
	}
	if serverNamespaces[req.Namespace][webhook.ModeLabel] == "audit" && code != http.StatusBadRequest {
		if !r.Allowed || len(r.Patch) > 0 {
			t.Fatalf("audit namespace: allowed %v, result %+v, patch %s; want allowed without patch", r.Allowed, r.Result, r.Patch)
		}
	}
}

// fuzzEndpoint runs the target for one endpoint.
func fuzzEndpoint(f *testing.F, path string) {
	ft := fuzzTargets[path]
	for _, s := range endpointSeeds(f, path) {
		f.Add(s, byte(0))
	}
	wh := serverHandlers(f, shippedConfig, false)[path]
	f.Fuzz(func(t *testing.T, object []byte, sel byte) {
		if !json.Valid(object) || !apiserverShaped(object) {
			return
		}
		req := ft.request(object, sel)
		status, review, _ := serveRaw(t, wh, reviewBody(t, req))
		checkAnswer(t, ft, req, status, review)
	})
}

// endpointSeeds are the objects of endpointCases for path (the committed
// seed corpus in testdata/fuzz/<target> adds the fixtures).
func endpointSeeds(t testing.TB, path string) [][]byte {
	var out [][]byte
	for _, c := range endpointCases {
		if c.path == path {
			out = append(out, []byte(c.object))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no endpoint case for %s", path)
	}
	return out
}

func FuzzImageRewrite(f *testing.F)  { fuzzEndpoint(f, "/image-rewrite") }
func FuzzImageRegistry(f *testing.F) { fuzzEndpoint(f, "/image-registry") }
func FuzzJobProxy(f *testing.F)      { fuzzEndpoint(f, "/job-proxy") }
func FuzzFluxPlacement(f *testing.F) { fuzzEndpoint(f, "/flux-placement") }
func FuzzGatewayHosts(f *testing.F)  { fuzzEndpoint(f, "/gateway-hosts") }
