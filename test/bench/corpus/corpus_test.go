package corpus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/bench/handlers"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// The committed files are what the generator makes: a change to the
// generator without `go run ./test/bench/corpus/gen` fails here.
func TestFilesUpToDate(t *testing.T) {
	want, err := corpus.Generate()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(corpus.Dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[filepath.Base(p)]) {
			t.Errorf("%s differs from what the generator makes: run go run ./test/bench/corpus/gen", p)
		}
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("%s is missing: run go run ./test/bench/corpus/gen", name)
		}
	}
	if len(corpus.Cases()) != len(want) {
		t.Errorf("%d cases, %d files", len(corpus.Cases()), len(want))
	}
}

// The pods are about 3, 9 and 19 KiB on the wire (the object, compact JSON).
func TestPodSizes(t *testing.T) {
	for name, kib := range map[string]int{
		"pod-3k-rewrite": 3, "pod-3k-registry": 3,
		"pod-9k-rewrite": 9, "pod-9k-registry": 9,
		"pod-19k-rewrite": 19, "pod-19k-registry": 19,
	} {
		size := len(corpus.Get(name).Object())
		if lo, hi := kib*1024*95/100, kib*1024*110/100; size < lo || size > hi {
			t.Errorf("%s: object of %d bytes, want %d KiB (%d to %d)", name, size, kib, lo, hi)
		}
	}
}

// Every object is valid for its Go type: no field the type does not know
// (a typo in the generator would otherwise go unnoticed by the policies).
func TestObjectsDecodeStrictly(t *testing.T) {
	for _, c := range corpus.Cases() {
		var obj any
		switch c.Kind {
		case "Pod":
			obj = &corev1.Pod{}
		case "HelmRelease":
			obj = &helmv2.HelmRelease{}
		case "VirtualService":
			obj = &istionetworkingv1.VirtualService{}
		default:
			t.Fatalf("%s: kind %q", c.Name, c.Kind)
		}
		strict, err := kjson.UnmarshalStrict(c.Object(), obj, kjson.DisallowUnknownFields)
		if err != nil || len(strict) > 0 {
			t.Errorf("%s: %v %v", c.Name, err, strict)
		}
		if req := c.Request(); req.Kind.Kind != c.Kind || req.Operation != "CREATE" || req.UID == "" {
			t.Errorf("%s: request kind %q, operation %q, uid %q", c.Name, req.Kind.Kind, req.Operation, req.UID)
		}
	}
}

// Denials the corpus must produce, written by hand from the README.
var denials = map[string]string{
	"helmrelease-denied": `[flux-placement] spec.chart.spec.sourceRef.namespace: must be unset or "tenant-a", the namespace of the release (found "flux-system"); ` +
		`[flux-placement] spec.serviceAccountName: must be a service account of namespace "tenant-a", not a Flux controller's (found "helm-controller")`,
	"virtualservice-denied/hosts=10": `[gateway-hosts] spec.hosts[1]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` +
		`(allowed for tenant-a: "a.example.com", "*.a.example.com", "h00002.a.example.com", "h00004.a.example.com")`,
	"virtualservice-denied/hosts=10000": `[gateway-hosts] spec.hosts[1]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` +
		`(allowed for tenant-a: "a.example.com", "*.a.example.com", "h00002.a.example.com", "h00004.a.example.com", "h00006.a.example.com" and 2496 more)`,
}

// platform-webhook answers each request as its case says, with 10 and with
// 10,000 Gateway hosts; image-rewrite's patch turns each pod into the pod
// its image-registry request carries; the baseline allows everything.
func TestAnswers(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "..", "manifests", "webhook", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	for _, hosts := range []int{10, 10000} {
		ours, err := handlers.Ours(cfg, nil, hosts)
		if err != nil {
			t.Fatal(err)
		}
		baseline := handlers.Baseline(admission.NewDecoder(scheme), []string{"/image-rewrite", "/image-registry", "/job-proxy", "/flux-placement", "/gateway-hosts"})
		for _, c := range corpus.Cases() {
			req := admission.Request{AdmissionRequest: c.Request()}
			h := ours[c.Path]
			if h == nil {
				t.Fatalf("%s: no handler at %s", c.Name, c.Path)
			}
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != c.Allowed || (len(resp.Patches) > 0) != c.Patched {
				t.Errorf("%s (hosts=%d): allowed %v with %d patch operations, want allowed %v, patched %v (%v)",
					c.Name, hosts, resp.Allowed, len(resp.Patches), c.Allowed, c.Patched, resp.Result)
			}
			if !c.Allowed {
				want, ok := denials[c.Name]
				if !ok {
					want = denials[c.Name+"/hosts="+itoa(hosts)]
				}
				if resp.Result == nil || resp.Result.Message != want {
					t.Errorf("%s (hosts=%d): denial %v\nwant %q", c.Name, hosts, resp.Result, want)
				}
			}
			if c.Path == "/image-rewrite" {
				checkRewriteGivesRegistryPod(t, c, resp)
			}
			if b := baseline[c.Path].Handle(context.Background(), req); !b.Allowed || len(b.Patches) > 0 {
				t.Errorf("%s: baseline allowed %v with %d patch operations (%v)", c.Name, b.Allowed, len(b.Patches), b.Result)
			}
		}
	}
}

func checkRewriteGivesRegistryPod(t *testing.T, c corpus.Case, resp admission.Response) {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patch.Apply(c.Object())
	if err != nil {
		t.Fatalf("%s: patch does not apply: %v", c.Name, err)
	}
	registryCase := corpus.Get(c.Name[:len(c.Name)-len("rewrite")] + "registry")
	var got, want map[string]any
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(registryCase.Object(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s patched is not %s's pod: they differ from byte %d of\n%s", c.Name, registryCase.Name, firstDiff(patched, registryCase.Object()), patched)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// firstDiff is the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
