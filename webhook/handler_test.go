package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// mirror is the embedded default's placeholder mirror.
const mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// Messages the handler tests expect, written out by hand from DESIGN.md.
const (
	nginxMirrored = mirror + "/docker-hub/library/nginx:1.27"
	nginxRewrite  = `would rewrite "nginx:1.27" to "` + nginxMirrored + `"`
	nginxDenial   = `spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror (allowed: images under "` + mirror + `/")`
	// rewriteDidNotRun ends image-registry's denial of an image image-rewrite,
	// enforced, would have rewritten, on a created pod it did not record: its
	// webhook call failed open.
	rewriteDidNotRun = "; image-rewrite did not run on this pod (its webhook call failed, which lets the pod through unchanged): creating it again will pass"
)

// namespaces is the fake namespace look-up: labels by namespace name.
// "tenant-a" has no label; "broken" fails as an unsynced cache would.
var namespaces = map[string]map[string]string{
	"tenant-a":       nil,
	"tenant-audit":   {webhook.ModeLabel: "audit"},
	"tenant-enforce": {webhook.ModeLabel: "enforce"},
	"tenant-bogus":   {webhook.ModeLabel: "bogus"},
	"tenant-off":     {webhook.ModeLabel: "off"},
	"kube-system":    {"kubernetes.io/metadata.name": "kube-system"},
}

func lookup(_ context.Context, name string) (map[string]string, error) {
	if name == "broken" {
		return nil, errors.New("namespace cache not synced")
	}
	return namespaces[name], nil
}

// endpoints builds the pod handlers from a configuration file's content, as
// serve does; "" is the embedded default.
func endpoints(t testing.TB, configYAML string) map[string]admission.Handler {
	t.Helper()
	cfg := config.Default()
	if configYAML != "" {
		var err error
		if cfg, err = config.Parse("config.yaml", []byte(configYAML)); err != nil {
			t.Fatalf("config: %v", err)
		}
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	set := cfg.Build(nil)
	h := webhook.Endpoints(set.Pods, func() *corev1.Pod { return &corev1.Pod{} }, admission.NewDecoder(scheme), lookup)
	if got, want := slices.Sorted(maps.Keys(h)), []string{"/image-registry", "/image-rewrite", "/job-proxy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("endpoints %q, want %q", got, want)
	}
	return h
}

// auditConfig rolls image-rewrite (and with it image-registry) out in audit.
const auditConfig = `mode: enforce
policies:
  imageRewrite:
    mode: audit
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    prefixes: {docker.io: docker-hub}
    excludeNamespaces: [kube-system]
`

// offConfig switches image-rewrite (and with it image-registry) off.
const offConfig = `policies:
  imageRewrite:
    mode: "off"
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
`

// decodeReview decodes a raw AdmissionReview into the request a handler gets.
func decodeReview(t *testing.T, raw []byte) admission.Request {
	t.Helper()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &review); err != nil {
		t.Fatalf("decode review: %v", err)
	}
	if review.Request == nil {
		t.Fatal("review has no request")
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// podReview is a hand-written AdmissionReview of a pod; object is raw JSON.
func podReview(namespace, operation, object string) []byte {
	return fmt.Appendf(nil, `{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "b1c2d3e4-0000-4000-8000-00000000000a",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "name": "web",
    "namespace": %q,
    "operation": %q,
    "userInfo": {"username": "alice"},
    "object": %s
  }
}`, namespace, operation, object)
}

// nginxPod is a pod with one container "app" running nginx:1.27.
func nginxPod(namespace string) string {
	return fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": %q},
  "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}`, namespace)
}

func handle(t *testing.T, h map[string]admission.Handler, path string, raw []byte) admission.Response {
	t.Helper()
	return h[path].Handle(context.Background(), decodeReview(t, raw))
}

// canonicalOps decodes JSON patch operations (a marshalled []JsonPatchOperation
// or hand-written op objects) and returns them re-encoded one per string,
// sorted: the comparison ignores the order of ops and of keys.
func canonicalOps(t *testing.T, ops []byte) []string {
	t.Helper()
	var list []any
	if err := json.Unmarshal(ops, &list); err != nil {
		t.Fatalf("decode patch %s: %v", ops, err)
	}
	var out []string
	for _, op := range list {
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

func checkOps(t *testing.T, resp admission.Response, want ...string) {
	t.Helper()
	got, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	wantOps := canonicalOps(t, []byte("["+strings.Join(want, ",")+"]"))
	if len(want) == 0 {
		wantOps = nil
	}
	if gotOps := canonicalOps(t, got); !reflect.DeepEqual(gotOps, wantOps) {
		t.Errorf("patch:\n got %s\nwant %s", strings.Join(gotOps, "\n     "), strings.Join(wantOps, "\n     "))
	}
}

// applyPatch applies the response's patch to the raw object of the request,
// as the apiserver does.
func applyPatch(t *testing.T, resp admission.Response, raw []byte) []byte {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatalf("decode patch %s: %v", ops, err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("apply patch %s: %v", ops, err)
	}
	return out
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// checkAllowedAsIs checks an allowed response without patch, warnings or annotations.
func checkAllowedAsIs(t *testing.T, resp admission.Response) {
	t.Helper()
	if !resp.Allowed {
		t.Errorf("denied: %+v", resp.Result)
	}
	if len(resp.Patches) > 0 || resp.PatchType != nil {
		t.Errorf("patch %+v (type %v), want none", resp.Patches, resp.PatchType)
	}
	if len(resp.Warnings) > 0 {
		t.Errorf("warnings %q, want none", resp.Warnings)
	}
	if len(resp.AuditAnnotations) > 0 {
		t.Errorf("audit annotations %q, want none", resp.AuditAnnotations)
	}
}

func checkWarnings(t *testing.T, resp admission.Response, want []string, annotations map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(resp.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", resp.Warnings, want)
	}
	if !reflect.DeepEqual(resp.AuditAnnotations, annotations) {
		t.Errorf("audit annotations:\n got %q\nwant %q", resp.AuditAnnotations, annotations)
	}
}

func TestImageRewriteCreate(t *testing.T) {
	h := endpoints(t, "")
	raw := readFile(t, "pod-create.json")
	req := decodeReview(t, raw)
	resp := h["/image-rewrite"].Handle(context.Background(), req)

	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	if resp.Result == nil || resp.Result.Code != http.StatusOK {
		t.Errorf("result %+v, want code 200", resp.Result)
	}
	checkOps(t, resp,
		`{"op": "replace", "path": "/spec/containers/0/image", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"}`,
		`{"op": "add", "path": "/metadata/annotations", "value": {"platform-webhook.flux-infra.io/original-images": "{\"app\":\"nginx:1.27\"}"}}`,
	)
	checkWarnings(t, resp, nil, nil)

	// The apiserver applies the patch to the object as it sent it: fields the
	// Go types do not know (spec.someFutureField, a container's
	// futureContainerField) and values they would re-encode ("1000m" is "1"
	// once typed) must come through untouched.
	patched := applyPatch(t, resp, req.Object.Raw)
	if want := readFile(t, "pod-create-patched.json"); !sameJSON(t, patched, want) {
		t.Errorf("patched object:\n got %s\nwant %s", patched, want)
	}
	var pod struct {
		Spec struct {
			SomeFutureField *int `json:"someFutureField"`
			Containers      []struct {
				Image     string          `json:"image"`
				Future    json.RawMessage `json:"futureContainerField"`
				Resources struct {
					Limits map[string]string `json:"limits"`
				} `json:"resources"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.SomeFutureField == nil || *pod.Spec.SomeFutureField != 1 {
		t.Errorf("spec.someFutureField lost: %s", patched)
	}
	if c := pod.Spec.Containers[0]; c.Image != nginxMirrored || len(c.Future) == 0 || c.Resources.Limits["cpu"] != "1000m" {
		t.Errorf("container after patch: %+v", c)
	}

	// Reinvocation: the patched pod admitted again is left as it is.
	again := podReview("tenant-a", "CREATE", string(patched))
	checkAllowedAsIs(t, handle(t, h, "/image-rewrite", again))
	// And image-registry admits it.
	checkAllowedAsIs(t, handle(t, h, "/image-registry", again))
}

func TestImageRewriteKeepsExistingAnnotations(t *testing.T) {
	h := endpoints(t, "")
	raw := podReview("tenant-a", "CREATE", `{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "tenant-a", "annotations": {"team": "shop"}},
  "spec": {
    "initContainers": [{"name": "init", "image": "quay.io/prometheus/busybox:glibc"}],
    "containers": [
      {"name": "app", "image": "nginx:1.27"},
      {"name": "mirrored", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/redis:7"}
    ]}}`)
	resp := handle(t, h, "/image-rewrite", raw)
	checkOps(t, resp,
		`{"op": "replace", "path": "/spec/initContainers/0/image", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/prometheus/busybox:glibc"}`,
		`{"op": "replace", "path": "/spec/containers/0/image", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"}`,
		`{"op": "add", "path": "/metadata/annotations/platform-webhook.flux-infra.io~1original-images", "value": "{\"app\":\"nginx:1.27\",\"init\":\"quay.io/prometheus/busybox:glibc\"}"}`,
	)
	patched := applyPatch(t, resp, decodeReview(t, raw).Object.Raw)
	want := `{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "tenant-a", "annotations": {
    "team": "shop",
    "platform-webhook.flux-infra.io/original-images": "{\"app\":\"nginx:1.27\",\"init\":\"quay.io/prometheus/busybox:glibc\"}"}},
  "spec": {
    "initContainers": [{"name": "init", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/prometheus/busybox:glibc"}],
    "containers": [
      {"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
      {"name": "mirrored", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/redis:7"}
    ]}}`
	if !sameJSON(t, patched, []byte(want)) {
		t.Errorf("patched object:\n got %s\nwant %s", patched, want)
	}
}

func TestModes(t *testing.T) {
	rewriteWarning := []string{"[image-rewrite] " + nginxRewrite}
	rewriteAnnotation := map[string]string{"image-rewrite": nginxRewrite}
	registryWarning := []string{"[image-registry] would deny: " + nginxDenial}
	registryAnnotation := map[string]string{"image-registry": "would deny: " + nginxDenial}
	patch := `{"op": "replace", "path": "/spec/containers/0/image", "value": "` + nginxMirrored + `"}`
	annotation := `{"op": "add", "path": "/metadata/annotations", "value": {"platform-webhook.flux-infra.io/original-images": "{\"app\":\"nginx:1.27\"}"}}`

	type want int
	const (
		enforce want = iota // patched, or denied
		audit               // warned and annotated only
		off                 // nothing at all
	)
	tests := []struct {
		name      string
		config    string
		namespace string
		want      want
	}{
		{"default config, no label", "", "tenant-a", enforce},
		{"label audit", "", "tenant-audit", audit},
		{"label enforce", "", "tenant-enforce", enforce},
		{"unknown label keeps enforce", "", "tenant-bogus", enforce},
		{"label off is not honoured", "", "tenant-off", enforce},
		{"config audit", auditConfig, "tenant-a", audit},
		{"config audit, unknown label keeps audit", auditConfig, "tenant-bogus", audit},
		{"config audit, label off keeps audit", auditConfig, "tenant-off", audit},
		{"config audit, label enforce", auditConfig, "tenant-enforce", enforce},
		{"config off, label enforce stays off", offConfig, "tenant-enforce", off},
		{"config off, label audit stays off", offConfig, "tenant-audit", off},
		{"excluded namespace", "", "kube-system", off},
		{"excluded namespace under audit", auditConfig, "kube-system", off},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := endpoints(t, tt.config)
			raw := podReview(tt.namespace, "CREATE", nginxPod(tt.namespace))

			rewrite := handle(t, h, "/image-rewrite", raw)
			registry := handle(t, h, "/image-registry", raw)
			switch tt.want {
			case enforce:
				if !rewrite.Allowed {
					t.Errorf("image-rewrite denied: %+v", rewrite.Result)
				}
				checkOps(t, rewrite, patch, annotation)
				checkWarnings(t, rewrite, nil, nil)
				// The unpatched pod (image-rewrite skipped, say) is denied.
				if registry.Allowed || registry.Result.Code != http.StatusForbidden || registry.Result.Message != "[image-registry] "+nginxDenial+rewriteDidNotRun {
					t.Errorf("image-registry: allowed %v, result %+v; want 403 %q", registry.Allowed, registry.Result, "[image-registry] "+nginxDenial+rewriteDidNotRun)
				}
				checkWarnings(t, registry, nil, nil)
			case audit:
				if !rewrite.Allowed || len(rewrite.Patches) > 0 || rewrite.PatchType != nil {
					t.Errorf("image-rewrite: allowed %v, patch %+v; want allowed without patch", rewrite.Allowed, rewrite.Patches)
				}
				checkWarnings(t, rewrite, rewriteWarning, rewriteAnnotation)
				if !registry.Allowed || registry.Result.Code != http.StatusOK {
					t.Errorf("image-registry: allowed %v, result %+v; want allowed", registry.Allowed, registry.Result)
				}
				checkWarnings(t, registry, registryWarning, registryAnnotation)
			case off:
				checkAllowedAsIs(t, rewrite)
				checkAllowedAsIs(t, registry)
			}
		})
	}
}

func TestEphemeralContainers(t *testing.T) {
	h := endpoints(t, "")
	raw := readFile(t, "pod-ephemeral-update.json")
	req := decodeReview(t, raw)
	resp := h["/image-rewrite"].Handle(context.Background(), req)
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	// Only the ephemeral container: the running containers and the
	// annotation are not touched through this subresource.
	checkOps(t, resp,
		`{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36"}`)
	checkWarnings(t, resp, nil, nil)

	patched := applyPatch(t, resp, req.Object.Raw)
	want := strings.Replace(string(req.Object.Raw), `"image": "busybox:1.36"`,
		`"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36"`, 1)
	if want == string(req.Object.Raw) {
		t.Fatal("test data: ephemeral image not found")
	}
	if !sameJSON(t, patched, []byte(want)) {
		t.Errorf("patched object:\n got %s\nwant %s", patched, want)
	}

	// A plain UPDATE of the same pod is not rewritten.
	plain := bytes.Replace(raw, []byte(`"subResource": "ephemeralcontainers",`), nil, 1)
	if bytes.Equal(plain, raw) {
		t.Fatal("test data: subResource not found")
	}
	checkAllowedAsIs(t, handle(t, h, "/image-rewrite", plain))
}

func TestImageRegistryDenies(t *testing.T) {
	h := endpoints(t, "")
	t.Run("one container", func(t *testing.T) {
		resp := handle(t, h, "/image-registry", podReview("tenant-a", "CREATE", nginxPod("tenant-a")))
		if resp.Allowed {
			t.Fatal("allowed, want denied")
		}
		want := `[image-registry] spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")` + rewriteDidNotRun
		if resp.Result.Code != http.StatusForbidden || resp.Result.Reason != "Forbidden" || resp.Result.Message != want {
			t.Errorf("result code %d reason %q message\n %s\nwant 403 Forbidden\n %s", resp.Result.Code, resp.Result.Reason, resp.Result.Message, want)
		}
		checkWarnings(t, resp, nil, nil)
	})
	t.Run("two containers", func(t *testing.T) {
		resp := handle(t, h, "/image-registry", podReview("tenant-a", "UPDATE", `{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "tenant-a"},
  "spec": {"containers": [
    {"name": "app", "image": "nginx:1.27"},
    {"name": "ok", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
    {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.2"}
  ]}}`))
		want := `[image-registry] spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/"); ` +
			`[image-registry] spec.containers[2].image: container "istio-proxy" uses "docker.io/istio/proxyv2:1.24.2" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`
		if resp.Allowed || resp.Result.Code != http.StatusForbidden || resp.Result.Message != want {
			t.Errorf("allowed %v, code %d, message\n %s\nwant 403\n %s", resp.Allowed, resp.Result.Code, resp.Result.Message, want)
		}
	})
	t.Run("mirrored pod", func(t *testing.T) {
		resp := handle(t, h, "/image-registry", podReview("tenant-a", "CREATE", `{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "tenant-a"},
  "spec": {"containers": [{"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
    {"name": "gw", "image": "auto"}]}}`))
		checkAllowedAsIs(t, resp)
		if resp.Result.Code != http.StatusOK {
			t.Errorf("code %d, want 200", resp.Result.Code)
		}
	})
}

func TestMalformedAndSkipped(t *testing.T) {
	h := endpoints(t, "")
	for _, path := range []string{"/image-rewrite", "/image-registry"} {
		for _, tt := range []struct {
			name string
			raw  []byte
		}{
			{"containers not a list", podReview("tenant-a", "CREATE", `{"spec": {"containers": "oops"}}`)},
			{"object a string", podReview("tenant-a", "CREATE", `"a pod"`)},
			{"object absent", podReview("tenant-a", "CREATE", `null`)},
			{"image a number", podReview("tenant-a", "UPDATE", `{"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "app", "image": 5}]}}`)},
		} {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				resp := handle(t, h, path, tt.raw)
				if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
					t.Fatalf("allowed %v, result %+v; want 400", resp.Allowed, resp.Result)
				}
				msg := resp.Result.Message
				if msg != "the object could not be decoded as Pod" {
					t.Errorf("message %q", msg)
				}
				for _, goText := range []string{"json:", "cannot unmarshal", "Go ", "v1.", "string into"} {
					if strings.Contains(msg, goText) {
						t.Errorf("message %q shows Go error text %q", msg, goText)
					}
				}
				if len(resp.Patches) > 0 || len(resp.Warnings) > 0 {
					t.Errorf("patch %+v, warnings %q", resp.Patches, resp.Warnings)
				}
			})
		}
		t.Run(path+"/DELETE", func(t *testing.T) {
			raw := []byte(`{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
  "uid": "d0000000-0000-4000-8000-000000000001",
  "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "web", "namespace": "tenant-a", "operation": "DELETE", "userInfo": {"username": "alice"},
  "object": null,
  "oldObject": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "tenant-a"},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}`)
			checkAllowedAsIs(t, handle(t, h, path, raw))
		})
		t.Run(path+"/CONNECT", func(t *testing.T) {
			checkAllowedAsIs(t, handle(t, h, path, podReview("tenant-a", "CONNECT", `null`)))
		})
		t.Run(path+"/namespace look-up fails", func(t *testing.T) {
			resp := handle(t, h, path, podReview("broken", "CREATE", nginxPod("broken")))
			if resp.Allowed || resp.Result.Code != http.StatusInternalServerError || resp.Result.Message != "the webhook could not read namespace broken" {
				t.Errorf("allowed %v, result %+v; want 500 naming the namespace", resp.Allowed, resp.Result)
			}
			if strings.Contains(resp.Result.Message, "not synced") {
				t.Errorf("message %q shows the internal error", resp.Result.Message)
			}
		})
		t.Run(path+"/empty request", func(t *testing.T) {
			// No apiserver sends a request without a uid (hardening_test.go has the rest).
			resp := h[path].Handle(context.Background(), admission.Request{})
			if resp.Allowed || resp.Result.Code != http.StatusBadRequest || resp.Result.Message != "the admission review has no request (or its uid is empty)" {
				t.Errorf("allowed %v, result %+v; want 400", resp.Allowed, resp.Result)
			}
		})
	}
}

// serveReview POSTs body to the webhook over real HTTP and decodes the answer.
func serveReview(t *testing.T, h admission.Handler, contentType string, body []byte) (int, admissionv1.AdmissionReview) {
	t.Helper()
	srv := httptest.NewServer(&admission.Webhook{Handler: h})
	defer srv.Close()
	res, err := http.Post(srv.URL, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &review); err != nil {
		t.Fatalf("decode response %s: %v", b, err)
	}
	if review.Response == nil {
		t.Fatalf("no response in %s", b)
	}
	return res.StatusCode, review
}

func TestServeHTTP(t *testing.T) {
	h := endpoints(t, "")
	t.Run("patch", func(t *testing.T) {
		status, review := serveReview(t, h["/image-rewrite"], "application/json", readFile(t, "pod-create.json"))
		r := review.Response
		if status != http.StatusOK || review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
			t.Errorf("HTTP %d, %s %s; want 200 admission.k8s.io/v1 AdmissionReview", status, review.APIVersion, review.Kind)
		}
		if r.UID != "0d6c4b1e-6f1a-4e2b-9c1d-2a7e5f3b8c90" {
			t.Errorf("uid %q not echoed", r.UID)
		}
		if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Errorf("allowed %v, patchType %v; want allowed JSONPatch", r.Allowed, r.PatchType)
		}
		want := canonicalOps(t, []byte(`[
  {"op": "replace", "path": "/spec/containers/0/image", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
  {"op": "add", "path": "/metadata/annotations", "value": {"platform-webhook.flux-infra.io/original-images": "{\"app\":\"nginx:1.27\"}"}}]`))
		if got := canonicalOps(t, r.Patch); !reflect.DeepEqual(got, want) {
			t.Errorf("patch:\n got %q\nwant %q", got, want)
		}
		if len(r.Warnings) > 0 {
			t.Errorf("warnings %q", r.Warnings)
		}
	})
	t.Run("audit", func(t *testing.T) {
		_, review := serveReview(t, h["/image-rewrite"], "application/json", podReview("tenant-audit", "CREATE", nginxPod("tenant-audit")))
		r := review.Response
		if r.UID != "b1c2d3e4-0000-4000-8000-00000000000a" || !r.Allowed || r.PatchType != nil || len(r.Patch) > 0 {
			t.Errorf("uid %q, allowed %v, patch %s (%v); want allowed, no patch", r.UID, r.Allowed, r.Patch, r.PatchType)
		}
		if want := []string{"[image-rewrite] " + nginxRewrite}; !reflect.DeepEqual(r.Warnings, want) {
			t.Errorf("warnings %q, want %q", r.Warnings, want)
		}
		if want := map[string]string{"image-rewrite": nginxRewrite}; !reflect.DeepEqual(r.AuditAnnotations, want) {
			t.Errorf("audit annotations %q, want %q", r.AuditAnnotations, want)
		}
	})
	t.Run("deny", func(t *testing.T) {
		_, review := serveReview(t, h["/image-registry"], "application/json", podReview("tenant-a", "CREATE", nginxPod("tenant-a")))
		r := review.Response
		if r.UID != "b1c2d3e4-0000-4000-8000-00000000000a" || r.Allowed || r.Result == nil || r.Result.Code != http.StatusForbidden ||
			r.Result.Message != "[image-registry] "+nginxDenial+rewriteDidNotRun {
			t.Errorf("uid %q, allowed %v, result %+v; want denied 403", r.UID, r.Allowed, r.Result)
		}
	})
	t.Run("malformed object", func(t *testing.T) {
		_, review := serveReview(t, h["/image-rewrite"], "application/json", podReview("tenant-a", "CREATE", `{"spec": {"containers": "oops"}}`))
		r := review.Response
		if r.Allowed || r.Result.Code != http.StatusBadRequest || r.Result.Message != "the object could not be decoded as Pod" || r.UID == "" {
			t.Errorf("uid %q, allowed %v, result %+v; want 400", r.UID, r.Allowed, r.Result)
		}
	})

	// A body that is not an AdmissionReview never reaches our handler:
	// controller-runtime answers HTTP 200 with allowed=false and code 400.
	for _, tt := range []struct {
		name, contentType string
		body              []byte
		message           string // "" when controller-runtime words it from a decoder error
	}{
		{"empty body", "application/json", nil, "request body is empty"},
		{"not JSON", "application/json", []byte("not json at all"), ""},
		{"truncated JSON", "application/json", readFile(t, "pod-create.json")[:200], ""},
		{"wrong content type", "text/plain", readFile(t, "pod-create.json"), "contentType=text/plain, expected application/json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, review := serveReview(t, h["/image-rewrite"], tt.contentType, tt.body)
			r := review.Response
			if status != http.StatusOK || r.Allowed || r.Result == nil || r.Result.Code != http.StatusBadRequest {
				t.Fatalf("HTTP %d, allowed %v, result %+v; want HTTP 200, allowed false, code 400", status, r.Allowed, r.Result)
			}
			if tt.message != "" && r.Result.Message != tt.message {
				t.Errorf("message %q, want %q", r.Result.Message, tt.message)
			}
			if r.Result.Message == "" || len(r.Patch) > 0 {
				t.Errorf("message %q, patch %s", r.Result.Message, r.Patch)
			}
		})
	}
}
