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
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// Bad input, through the real HTTP path: every endpoint of the server as
// serve registers it (config.Set.Endpoints behind controller-runtime's
// admission.Webhook), fed raw bodies over HTTP.

// shippedConfig is the configuration the cluster runs (manifests/webhook).
var shippedConfig = filepath.Join("..", "manifests", "webhook", "config.yaml")

// serverNamespaces are the namespace labels the server's look-up knows;
// "broken" fails as an unsynced cache would.
var serverNamespaces = map[string]map[string]string{
	"tenant-a":     nil,
	"tenant-mesh":  {policies.IstioInjectionLabel: "enabled"},
	"tenant-audit": {webhook.ModeLabel: "audit", policies.IstioInjectionLabel: "enabled"},
	"kube-system":  nil,
	"flux-system":  nil,
}

// oldKubelets is a cluster whose one Node runs kubelet 1.28: Istio's
// proxies are regular containers there and native sidecars do not run, so
// job-proxy wraps Job pods in the mesh and denies what it cannot wrap.
func oldKubelets() *policies.IstioCluster {
	c := policies.NewIstioCluster(false)
	c.SetNode("node-a", "v1.28.15")
	return c
}

func serverLookup(_ context.Context, name string) (map[string]string, error) {
	if name == "broken" {
		return nil, errors.New("namespace cache not synced")
	}
	return serverNamespaces[name], nil
}

// publicGateway authorizes a.example.com and *.a.example.com for tenant-a
// (and tenant-audit) on istio-ingress/public.
func publicGateway() *istionetworkingv1.Gateway {
	return &istionetworkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec: istioapiv1alpha3.Gateway{Servers: []*istioapiv1alpha3.Server{{
			Port:  &istioapiv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"},
			Hosts: []string{"tenant-a/a.example.com", "tenant-a/*.a.example.com", "tenant-audit/a.example.com"},
		}}},
	}
}

// serverHandlers builds every endpoint from a config file as serve does,
// with a Gateway index holding publicGateway. The webhooks recover panics
// as in serve unless recoverPanic is false (the fuzz targets want them).
func serverHandlers(t testing.TB, configPath string, recoverPanic bool) map[string]*admission.Webhook {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.Build(nil)
	idx := policies.NewGatewayIndex()
	idx.SetGateway(publicGateway())
	set.UseGateways(idx)
	set.UseIstio(oldKubelets())
	out := map[string]*admission.Webhook{}
	for path, h := range set.Endpoints(admission.NewDecoder(scheme), serverLookup) {
		out[path] = &admission.Webhook{Handler: h, RecoverPanic: ptr.To(recoverPanic)}
	}
	want := []string{"/flux-placement", "/gateway-hosts", "/image-registry", "/image-rewrite", "/job-proxy"}
	if got := slices.Sorted(maps.Keys(out)); !reflect.DeepEqual(got, want) {
		t.Fatalf("endpoints %q, want %q", got, want)
	}
	return out
}

// endpointCase is what one endpoint reviews: the kind and resource of its
// requests, and an object it decides on (patches or denies) in enforce mode.
type endpointCase struct {
	path      string
	kind      metav1.GroupVersionKind
	resource  metav1.GroupVersionResource
	namespace string
	object    string
	// denial is the enforce-mode message for object; "" when it is patched.
	denial string
}

var (
	podKind     = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// meshJobPod is a Job pod in a mesh namespace: job-proxy wraps it,
// image-rewrite mirrors its image, image-registry denies it as it is.
const meshJobPod = `{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "migrate-x1", "namespace": "tenant-mesh", "labels": {"batch.kubernetes.io/job-name": "migrate"}},
  "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "nginx:1.27", "command": ["/migrate"]}]}}`

var endpointCases = []endpointCase{
	{path: "/image-rewrite", kind: podKind, resource: podResource, namespace: "tenant-mesh", object: meshJobPod},
	{path: "/job-proxy", kind: podKind, resource: podResource, namespace: "tenant-mesh", object: meshJobPod},
	{
		path: "/image-registry", kind: podKind, resource: podResource, namespace: "tenant-mesh", object: meshJobPod,
		denial: `[image-registry] spec.containers[0].image: container "migrate" uses "nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")` + rewriteDidNotRun,
	},
	{
		path:      "/flux-placement",
		kind:      metav1.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"},
		resource:  metav1.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"},
		namespace: "tenant-a",
		object: `{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
  "metadata": {"name": "redis", "namespace": "tenant-a"},
  "spec": {"interval": "10m", "serviceAccountName": "helm-controller",
    "chart": {"spec": {"chart": "redis", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}}}}`,
		denial: `[flux-placement] spec.serviceAccountName: must be a service account of namespace "tenant-a", not a Flux controller's (found "helm-controller")`,
	},
	{
		path:      "/gateway-hosts",
		kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
		resource:  metav1.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
		namespace: "tenant-a",
		object: `{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
  "metadata": {"name": "shop", "namespace": "tenant-a"},
  "spec": {"gateways": ["istio-ingress/public"], "hosts": ["shop.b.example.com"],
    "http": [{"route": [{"destination": {"host": "shop"}}]}]}}`,
		denial: `[gateway-hosts] spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a.example.com", "*.a.example.com")`,
	},
}

const reviewUID = "c0ffee00-0000-4000-8000-000000000008"

// request is the AdmissionRequest of c's object as the apiserver sends it.
func (c endpointCase) request() admissionv1.AdmissionRequest {
	return admissionv1.AdmissionRequest{
		UID:       reviewUID,
		Kind:      c.kind,
		Resource:  c.resource,
		Name:      "obj",
		Namespace: c.namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: []byte(c.object)},
	}
}

// reviewBody encodes an AdmissionReview v1 of req.
func reviewBody(t testing.TB, req admissionv1.AdmissionRequest) []byte {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answer is what came back over HTTP.
type answer struct {
	status     int
	apiVersion string
	kind       string
	resp       *admissionv1.AdmissionResponse
	raw        []byte
}

func post(t testing.TB, url, contentType string, body []byte) answer {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	res, err := http.Post(url, contentType, r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &review); err != nil || review.Response == nil {
		t.Fatalf("HTTP %d: not an AdmissionReview with a response (%v):\n%s", res.StatusCode, err, raw)
	}
	return answer{res.StatusCode, review.APIVersion, review.Kind, review.Response, raw}
}

// goErrorText are fragments of Go and library error text that must never
// reach a user in a message our code writes.
var goErrorText = []string{"json:", "cannot unmarshal", "Go struct", "Go value", "unable to decode", "invalid character",
	"unexpected end", "*v1.", "*v2.", "reflect", "runtime.", "not synced", "panic"}

func checkNoGoErrorText(t *testing.T, msg string) {
	t.Helper()
	for _, s := range goErrorText {
		if strings.Contains(msg, s) {
			t.Errorf("message %q shows Go error text %q", msg, s)
		}
	}
}

func TestBadInput(t *testing.T) {
	handlers := serverHandlers(t, shippedConfig, true)
	mux := http.NewServeMux()
	for path, h := range handlers {
		mux.Handle(path, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What controller-runtime answers itself (HTTP 200, allowed false, its
	// own wording, no uid): assert the code, the text is theirs.
	type crCase struct {
		name        string
		contentType string
		body        func(c endpointCase) []byte
		code        int32
	}
	huge := func(c endpointCase) []byte {
		req := c.request()
		// A valid review whose object carries 7.5 MiB in an annotation.
		req.Object.Raw = fmt.Appendf(nil, `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big", "annotations": {"a": %q}}}`, strings.Repeat("x", 7<<20+1<<19))
		return reviewBody(t, req)
	}
	for _, cc := range []crCase{
		{"empty body", "application/json", func(endpointCase) []byte { return nil }, http.StatusBadRequest},
		{"not JSON", "application/json", func(endpointCase) []byte { return []byte("not json at all") }, http.StatusBadRequest},
		{"JSON array", "application/json", func(endpointCase) []byte { return []byte(`[{"request": {}}]`) }, http.StatusBadRequest},
		{"request not an object", "application/json", func(endpointCase) []byte {
			return []byte(`{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": "CREATE"}`)
		}, http.StatusBadRequest},
		{"truncated review", "application/json", func(c endpointCase) []byte { b := reviewBody(t, c.request()); return b[:len(b)/2] }, http.StatusBadRequest},
		{"wrong content type", "text/plain", func(c endpointCase) []byte { return reviewBody(t, c.request()) }, http.StatusBadRequest},
		{"body over 7 MiB", "application/json", huge, http.StatusRequestEntityTooLarge},
	} {
		for _, c := range endpointCases {
			t.Run(c.path+"/"+cc.name, func(t *testing.T) {
				a := post(t, srv.URL+c.path, cc.contentType, cc.body(c))
				r := a.resp
				if a.status != http.StatusOK || r.Allowed || r.Result == nil || r.Result.Code != cc.code || r.Result.Message == "" {
					t.Fatalf("HTTP %d, allowed %v, result %+v; want HTTP 200, allowed false, code %d with a message", a.status, r.Allowed, r.Result, cc.code)
				}
				if len(r.Patch) > 0 || len(r.Warnings) > 0 || r.UID != "" {
					t.Errorf("patch %s, warnings %q, uid %q; want none", r.Patch, r.Warnings, r.UID)
				}
			})
		}
	}

	// What our handlers answer: exact codes and messages.
	type want struct {
		allowed bool
		code    int32
		message string // exact; for denials, c.denial
	}
	type ourCase struct {
		name   string
		review func(c endpointCase) admissionv1.AdmissionRequest
		want   func(c endpointCase) want
	}
	allowed := func(msg string) func(endpointCase) want {
		return func(endpointCase) want { return want{true, http.StatusOK, msg} }
	}
	bad := func(msg func(c endpointCase) string) func(endpointCase) want {
		return func(c endpointCase) want { return want{false, http.StatusBadRequest, msg(c)} }
	}
	otherKind := func(c endpointCase) admissionv1.AdmissionRequest {
		req := c.request()
		req.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
		req.Resource = metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}
		req.Object.Raw = []byte(`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}}`)
		return req
	}
	for _, oc := range []ourCase{
		{
			name:   "review without request",
			review: func(endpointCase) admissionv1.AdmissionRequest { return admissionv1.AdmissionRequest{} },
			want:   bad(func(endpointCase) string { return "the admission review has no request (or its uid is empty)" }),
		},
		{
			name:   "unknown operation",
			review: func(c endpointCase) admissionv1.AdmissionRequest { r := c.request(); r.Operation = "PATCH"; return r },
			want: bad(func(endpointCase) string {
				return `unknown operation "PATCH" (allowed: CREATE, UPDATE, DELETE, CONNECT)`
			}),
		},
		{
			name: "object of another kind",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Object.Raw = otherKind(c).Object.Raw
				return r
			},
			want: bad(func(c endpointCase) string { return "the object could not be decoded as " + c.kind.Kind }),
		},
		{
			name: "object a string",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Object.Raw = []byte(`"a pod"`)
				return r
			},
			want: bad(func(c endpointCase) string { return "the object could not be decoded as " + c.kind.Kind }),
		},
		{
			name:   "no object on CREATE",
			review: func(c endpointCase) admissionv1.AdmissionRequest { r := c.request(); r.Object.Raw = nil; return r },
			want:   bad(func(c endpointCase) string { return "the object could not be decoded as " + c.kind.Kind }),
		},
		{
			name: "spec of the wrong type",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Object.Raw = []byte(`{"apiVersion": "` + c.kind.Group + "/" + c.kind.Version + `", "kind": "` + c.kind.Kind + `", "metadata": {"name": "x"}, "spec": ["not", "an", "object"]}`)
				return r
			},
			want: bad(func(c endpointCase) string { return "the object could not be decoded as " + c.kind.Kind }),
		},
		{
			// Pod endpoints serve one kind and decode whatever comes as a
			// Pod; the endpoints of several kinds name what they review.
			name:   "a kind the endpoint does not review",
			review: otherKind,
			want: bad(func(c endpointCase) string {
				if c.kind.Kind == "Pod" {
					return "the object could not be decoded as ConfigMap"
				}
				return "this webhook does not review ConfigMap"
			}),
		},
		{
			name: "DELETE with only oldObject",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Operation, r.OldObject, r.Object = admissionv1.Delete, r.Object, runtime.RawExtension{}
				return r
			},
			want: allowed("operation DELETE is not checked"),
		},
		{
			name: "CONNECT",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Operation, r.SubResource, r.Object = admissionv1.Connect, "exec", runtime.RawExtension{Raw: []byte(`{"kind": "PodExecOptions", "apiVersion": "v1", "command": ["sh"]}`)}
				return r
			},
			want: allowed("operation CONNECT is not checked"),
		},
		{
			// A status write changes nothing a policy reads: never
			// reviewed, so a rule that matches */status by mistake cannot
			// block a controller.
			name: "status subresource",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Operation, r.SubResource, r.OldObject = admissionv1.Update, "status", r.Object
				return r
			},
			want: allowed("subresource status is not checked"),
		},
		{
			name: "namespace look-up fails",
			review: func(c endpointCase) admissionv1.AdmissionRequest {
				r := c.request()
				r.Namespace = "broken"
				return r
			},
			want: func(endpointCase) want {
				return want{false, http.StatusInternalServerError, "the webhook could not read namespace broken"}
			},
		},
	} {
		for _, c := range endpointCases {
			t.Run(c.path+"/"+oc.name, func(t *testing.T) {
				req := oc.review(c)
				a := post(t, srv.URL+c.path, "application/json", reviewBody(t, req))
				r, w := a.resp, oc.want(c)
				if a.status != http.StatusOK || a.apiVersion != "admission.k8s.io/v1" || a.kind != "AdmissionReview" {
					t.Errorf("HTTP %d, %s %s; want 200 admission.k8s.io/v1 AdmissionReview", a.status, a.apiVersion, a.kind)
				}
				if r.UID != req.UID {
					t.Errorf("uid %q, want the request's %q", r.UID, req.UID)
				}
				if r.Allowed != w.allowed || r.Result == nil || r.Result.Code != w.code || r.Result.Message != w.message {
					t.Errorf("allowed %v, result %+v\nwant allowed %v, code %d, message %q", r.Allowed, r.Result, w.allowed, w.code, w.message)
				}
				if len(r.Patch) > 0 || r.PatchType != nil || len(r.Warnings) > 0 || len(r.AuditAnnotations) > 0 {
					t.Errorf("patch %s (%v), warnings %q, audit annotations %q; want none", r.Patch, r.PatchType, r.Warnings, r.AuditAnnotations)
				}
				if r.Result != nil {
					checkNoGoErrorText(t, r.Result.Message)
				}
			})
		}
	}

	// The decision on each endpoint's object, and the same decision for the
	// variants that must not change it.
	for _, c := range endpointCases {
		t.Run(c.path+"/decision", func(t *testing.T) {
			base := post(t, srv.URL+c.path, "application/json", reviewBody(t, c.request()))
			checkDecision(t, c, base.resp)

			// Dry run (kubectl apply --dry-run=server): the same answer;
			// the handlers have no side effects (sideEffects: None).
			dry := c.request()
			dry.DryRun = ptr.To(true)
			if a := post(t, srv.URL+c.path, "application/json", reviewBody(t, dry)); !sameResponse(t, a.resp, base.resp) {
				t.Errorf("dry run answered\n %s\nwant the same as without\n %s", a.raw, base.raw)
			}

			// An AdmissionReview v1beta1 is answered in v1beta1, with the
			// same decision.
			body := bytes.Replace(reviewBody(t, c.request()), []byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"admission.k8s.io/v1beta1"`), 1)
			a := post(t, srv.URL+c.path, "application/json", body)
			if a.apiVersion != "admission.k8s.io/v1beta1" || a.kind != "AdmissionReview" || !sameResponse(t, a.resp, base.resp) {
				t.Errorf("v1beta1 review: %s %s %+v; want v1beta1 and the v1 answer %+v", a.apiVersion, a.kind, a.resp, base.resp)
			}

			// A review of another apiVersion or kind: controller-runtime
			// decodes the request inside whatever the envelope says and
			// answers in the envelope it was sent, which the apiserver (it
			// sends admission.k8s.io/v1 only) would refuse as a malformed
			// answer. The decision inside is the same.
			for _, envelope := range [][2]string{{"v1", "Pod"}, {"admission.k8s.io/v2", "AdmissionReview"}} {
				body := bytes.Replace(reviewBody(t, c.request()), []byte(`"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"`),
					fmt.Appendf(nil, `"kind":%q,"apiVersion":%q`, envelope[1], envelope[0]), 1)
				if bytes.Equal(body, reviewBody(t, c.request())) {
					t.Fatal("test: envelope not replaced")
				}
				a := post(t, srv.URL+c.path, "application/json", body)
				if a.apiVersion != envelope[0] || a.kind != envelope[1] || !sameResponse(t, a.resp, base.resp) {
					t.Errorf("%s review: answered %s %s %+v; want the envelope echoed and the v1 answer", envelope, a.apiVersion, a.kind, a.resp)
				}
			}
		})
	}

	// Objects in exempt namespaces: the webhook configurations leave out
	// kube-system, kube-node-lease, platform-webhook and namespaces labelled
	// flux-infra.io/admission: disabled (namespaceSelector), so the server
	// never sees them; the server's own exemption is imageRewrite's
	// excludeNamespaces, which image-registry follows.
	for _, path := range []string{"/image-rewrite", "/image-registry"} {
		t.Run(path+"/excluded namespace", func(t *testing.T) {
			req := endpointCases[0].request()
			req.Namespace = "kube-system"
			req.Object.Raw = []byte(strings.Replace(meshJobPod, `"namespace": "tenant-mesh"`, `"namespace": "kube-system"`, 1))
			a := post(t, srv.URL+path, "application/json", reviewBody(t, req))
			r := a.resp
			if !r.Allowed || r.Result.Code != http.StatusOK || len(r.Patch) > 0 || len(r.Warnings) > 0 || r.UID != reviewUID {
				t.Errorf("allowed %v, result %+v, patch %s, warnings %q; want allowed as it is", r.Allowed, r.Result, r.Patch, r.Warnings)
			}
		})
	}
}

// checkDecision checks an endpoint's answer to its case's object: the exact
// denial, or a patch that applies to the object.
func checkDecision(t *testing.T, c endpointCase, r *admissionv1.AdmissionResponse) {
	t.Helper()
	if r.UID != reviewUID {
		t.Errorf("uid %q, want %q", r.UID, reviewUID)
	}
	if c.denial != "" {
		if r.Allowed || r.Result == nil || r.Result.Code != http.StatusForbidden || r.Result.Message != c.denial {
			t.Errorf("allowed %v, result %+v\nwant 403 %s", r.Allowed, r.Result, c.denial)
		}
		return
	}
	if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || len(r.Patch) == 0 {
		t.Fatalf("allowed %v, patch %s (%v); want a JSON patch", r.Allowed, r.Patch, r.PatchType)
	}
	if _, err := applyJSONPatch(r.Patch, []byte(c.object)); err != nil {
		t.Errorf("patch %s does not apply: %v", r.Patch, err)
	}
}

// applyJSONPatch applies an RFC 6902 patch to a raw object, as the
// apiserver does.
func applyJSONPatch(patch, object []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("decode patch: %w", err)
	}
	return p.Apply(object)
}

// sameResponse compares two answers; the operations of a patch may come in
// any order (they touch different paths), so they are compared as a set.
func sameResponse(t *testing.T, a, b *admissionv1.AdmissionResponse) bool {
	t.Helper()
	if !slices.Equal(canonicalOps(t, orEmpty(a.Patch)), canonicalOps(t, orEmpty(b.Patch))) {
		return false
	}
	x, y := *a, *b
	x.Patch, y.Patch = nil, nil
	return reflect.DeepEqual(x, y)
}

func orEmpty(patch []byte) []byte {
	if len(patch) == 0 {
		return []byte("[]")
	}
	return patch
}
