package webhook_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
)

// Properties over the whole corpus: every object of the fuzz seed corpus
// (testdata/fuzz/) and of the repository's fixtures and examples (pods,
// the pods of workloads, Flux and Istio objects), sent to its endpoints:
//   - audit mode never denies and never patches;
//   - the mutating chain is idempotent: run again on the pod it admitted it
//     changes nothing, also after Istio's injection (legacy and native
//     sidecar layouts) on top of it;
//   - every answer holds checkAnswer's properties (uid, messages, patches
//     that apply, warnings within 256 characters each and 4 KiB together).

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the fuzz seed corpus under testdata/fuzz from the fixtures")

// fixturePaths are the files and folders the corpus collects objects from
// (relative to this package).
var fixturePaths = []string{
	"../examples",
	"../manifests",
	"../test/manifests/testdata",
	"../policies/testdata",
}

// corpusObject is one object of the corpus and the endpoint kind it is for.
type corpusObject struct {
	source    string
	path      string // an endpoint reviewing its kind
	sel       byte   // the request fuzzTarget.request builds for it
	object    []byte
	namespace string
}

// endpointsOfKind are the endpoints reviewing each kind, the mutating ones
// first, in the apiserver's order (webhooks.yaml: job-proxy, image-rewrite).
var endpointsOfKind = map[schema.GroupKind][]string{
	{Kind: "Pod"}: {"/job-proxy", "/image-rewrite", "/image-registry"},
	{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}:        {"/flux-placement"},
	{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}: {"/flux-placement"},
	{Group: "networking.istio.io", Kind: "VirtualService"}:        {"/gateway-hosts"},
	{Group: "networking.istio.io", Kind: "Gateway"}:               {"/gateway-hosts"},
}

// podTemplates is where workloads keep the template of their pods.
var podTemplates = map[schema.GroupKind][]string{
	{Group: "apps", Kind: "Deployment"}:  {"spec", "template"},
	{Group: "apps", Kind: "StatefulSet"}: {"spec", "template"},
	{Group: "apps", Kind: "DaemonSet"}:   {"spec", "template"},
	{Group: "apps", Kind: "ReplicaSet"}:  {"spec", "template"},
	{Group: "batch", Kind: "Job"}:        {"spec", "template"},
	{Group: "batch", Kind: "CronJob"}:    {"spec", "jobTemplate", "spec", "template"},
}

// fixtureObjects reads the fixtures: pods (workloads as the pods they make,
// Job pods labelled as the Job controller does), Flux and Istio objects, and
// the objects of the AdmissionReviews in testdata.
func fixtureObjects(t *testing.T) []corpusObject {
	t.Helper()
	var out []corpusObject
	add := func(source string, u map[string]any) {
		obj := &unstructured.Unstructured{Object: u}
		gk := obj.GroupVersionKind().GroupKind()
		if path, ok := podTemplates[gk]; ok {
			tmpl, found, _ := unstructured.NestedMap(u, path...)
			if !found {
				return
			}
			pod := &unstructured.Unstructured{Object: tmpl}
			pod.SetAPIVersion("v1")
			pod.SetKind("Pod")
			pod.SetNamespace(obj.GetNamespace())
			pod.SetName(obj.GetName() + "-x1")
			if gk.Group == "batch" {
				labels := pod.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				labels["batch.kubernetes.io/job-name"] = obj.GetName()
				pod.SetLabels(labels)
			}
			obj, gk = pod, schema.GroupKind{Kind: "Pod"}
		}
		paths, ok := endpointsOfKind[gk]
		if !ok {
			return
		}
		if _, ok := obj.Object["metadata"]; !ok {
			obj.Object["metadata"] = map[string]any{}
		}
		raw, err := json.Marshal(obj.Object)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		for _, p := range paths {
			out = append(out, corpusObject{source: source, path: p, object: raw, namespace: obj.GetNamespace(),
				sel: seedSel(fuzzTargets[p], gk, obj)})
		}
	}
	for _, d := range readManifests(t, fixturePaths...) {
		add(d.source, d.object)
	}
	reviews, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range reviews {
		var r struct {
			Request *struct {
				Object map[string]any `json:"object"`
			} `json:"request"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if json.Unmarshal(b, &r) == nil && r.Request != nil && r.Request.Object != nil {
			add(f, r.Request.Object)
		}
	}
	return out
}

type manifest struct {
	source string
	object map[string]any
}

// readManifests reads every YAML or JSON document under paths that is a
// Kubernetes object; other documents (kustomize patches, Helm values) are
// left out.
func readManifests(t *testing.T, paths ...string) []manifest {
	t.Helper()
	var out []manifest
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" && ext != ".json" {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
			for i := 0; ; i++ {
				var doc any
				if err := dec.Decode(&doc); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return nil // not YAML we can read: not a fixture
				}
				obj, _ := doc.(map[string]any)
				if _, ok := obj["kind"].(string); !ok {
					continue
				}
				if _, ok := obj["apiVersion"].(string); !ok {
					continue
				}
				out = append(out, manifest{fmt.Sprintf("%s:%d", p, i), obj})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// seedSel picks the request for an object: CREATE of its kind, in its own
// namespace where the target knows it, Job pods in the mesh namespace.
func seedSel(ft fuzzTarget, gk schema.GroupKind, obj *unstructured.Unstructured) byte {
	var sel byte
	for i, k := range ft.kinds {
		if k.kind.Group == gk.Group && k.kind.Kind == gk.Kind {
			sel |= byte(i) << 6
		}
	}
	ns := slices.Index(ft.namespaces[:], obj.GetNamespace())
	if _, job := obj.GetLabels()["batch.kubernetes.io/job-name"]; ns < 0 && job {
		ns = 1 // tenant-mesh
	}
	if ns > 0 {
		sel |= byte(ns) << 4
	}
	return sel
}

// handSeeds are objects no fixture has: edge cases of the decoders and the
// limits, each for the endpoints named.
func handSeeds() []corpusObject {
	many := make([]string, 60)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name": "c%02d-with-a-rather-long-container-name-to-fill-the-warning", "image": "registry.example.com/some/deeply/nested/team/repository/image-%02d:1.0.0"}`, i, i)
	}
	manyPod := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "many"}, "spec": {"containers": [` + strings.Join(many, ", ") + `]}}`
	pods := []string{
		`{"metadata": {}, "spec": {"containers": "oops"}}`,
		`{"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "::"}], "ephemeralContainers": [{"name": "b", "image": "busybox"}]}}`,
		`{"metadata": {"annotations": {"platform-webhook.flux-infra.io/original-images": "[1]"}}, "spec": {"initContainers": [{"name": "a", "image": "nginx@sha256:0123456789012345678901234567890123456789012345678901234567890123"}]}}`,
		`{"metadata": {"annotations": null, "labels": {"batch.kubernetes.io/job-name": "j"}}, "spec": {"volumes": null, "initContainers": null, "containers": [{"name": "a", "image": "Nginx", "command": null, "args": ["x"]}, {"name": "b", "image": "localhost:5000/b", "command": ["/b"], "volumeMounts": null}]}}`,
		`{"metadata": {"labels": {"batch.kubernetes.io/job-name": "j", "sidecar.istio.io/inject": "true"}}, "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "istio-proxy", "image": "auto"}, {"name": "main", "image": "quay.io/x/y:1@sha256:0123456789012345678901234567890123456789012345678901234567890123", "command": ["/main"], "restartPolicy": "Always"}]}}`,
		manyPod,
	}
	var out []corpusObject
	for i, p := range pods {
		for _, path := range endpointsOfKind[schema.GroupKind{Kind: "Pod"}] {
			out = append(out, corpusObject{source: fmt.Sprintf("hand-pod-%d", i), path: path, object: []byte(p), sel: 1 << 4})
		}
	}
	// The same pod in the audit namespace: 60 findings, cut to 4 KiB.
	for _, path := range []string{"/image-rewrite", "/image-registry"} {
		out = append(out, corpusObject{source: "hand-pod-many-audit", path: path, object: []byte(manyPod), sel: 2 << 4})
	}
	out = append(out,
		corpusObject{source: "hand-helmrelease", path: "/flux-placement", object: []byte(`{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"kubeConfig": {"secretRef": {"name": "k"}}}}`)},
		corpusObject{source: "hand-kustomization", path: "/flux-placement", sel: 1 << 6, object: []byte(`{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "x"}, "spec": {"sourceRef": {"kind": "GitRepository", "name": "r", "namespace": "flux-system"}, "targetNamespace": "kube-system", "serviceAccountName": "kustomize-controller", "kubeConfig": {"secretRef": {"name": "k"}}}}`)},
		corpusObject{source: "hand-virtualservice", path: "/gateway-hosts", object: []byte(`{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x"}, "spec": {"gateways": ["mesh", "public.istio-ingress.svc.cluster.local", "./nope", "a/b/c", ""], "hosts": ["*", "reviews.team-b", "*.A.example.com", "", "10.0.0.1", "a.example.com."], "exportTo": ["*"]}}`)},
		corpusObject{source: "hand-gateway", path: "/gateway-hosts", sel: 1<<6 | 1<<4, object: []byte(`{"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "public", "namespace": "istio-ingress"}, "spec": {"servers": [null, {"hosts": ["tenant-a/x.example.com", "./*", "*/*", "/", "a/b/c", ""]}]}}`)},
	)
	return out
}

// seedCorpus reads the committed seed corpus of every endpoint target.
func seedCorpus(t *testing.T) []corpusObject {
	t.Helper()
	var out []corpusObject
	for path := range fuzzTargets {
		dir := filepath.Join("testdata", "fuzz", fuzzName(path))
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("seed corpus of %s: %v", path, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			object, sel, err := parseSeed(b)
			if err != nil {
				t.Fatalf("%s/%s: %v", dir, f.Name(), err)
			}
			out = append(out, corpusObject{source: filepath.Join(dir, f.Name()), path: path, object: object, sel: sel})
		}
	}
	return out
}

// fuzzName is the fuzz target of an endpoint: "/image-rewrite" is FuzzImageRewrite.
func fuzzName(path string) string {
	var b strings.Builder
	b.WriteString("Fuzz")
	for _, w := range strings.Split(strings.TrimPrefix(path, "/"), "-") {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// parseSeed reads a corpus file of the endpoint targets (go test fuzz v1:
// a []byte and a byte).
func parseSeed(b []byte) ([]byte, byte, error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasPrefix(lines[2], "byte(") {
		return nil, 0, fmt.Errorf("not a corpus file of ([]byte, byte)")
	}
	object, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, 0, err
	}
	char := strings.TrimSuffix(strings.TrimPrefix(lines[2], "byte("), ")")
	if len(char) < 3 || char[0] != '\'' || char[len(char)-1] != '\'' {
		return nil, 0, fmt.Errorf("byte %s", char)
	}
	r, _, _, err := strconv.UnquoteChar(char[1:len(char)-1], '\'')
	if err != nil || r > 255 {
		return nil, 0, fmt.Errorf("byte %s: %v", char, err)
	}
	return []byte(object), byte(r), nil
}

// TestFuzzSeedCorpus writes the seed corpus with -update-fuzz-seeds: every
// fixture object and hand seed, once per target (go test -fuzz adds what it
// finds to the cache, $(go env GOCACHE)/fuzz; copy a new crasher or a good
// find into testdata/fuzz by hand). Otherwise it checks that the committed
// files parse.
func TestFuzzSeedCorpus(t *testing.T) {
	if !*updateFuzzSeeds {
		if n := len(seedCorpus(t)); n < 20 {
			t.Errorf("seed corpus has %d entries; regenerate it: go test ./webhook -run TestFuzzSeedCorpus -update-fuzz-seeds", n)
		}
		return
	}
	unsafe := regexp.MustCompile(`[^a-zA-Z0-9._-]+`)
	written := map[string]bool{}
	for _, o := range append(fixtureObjects(t), handSeeds()...) {
		dir := filepath.Join("testdata", "fuzz", fuzzName(o.path))
		if !written[dir] {
			// Files are named by content: rewriting keeps what the fuzzer
			// added; remove a stale seed by hand.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			written[dir] = true
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, o.object); err != nil {
			t.Fatalf("%s: %v", o.source, err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%q)\n", compact.Bytes(), o.sel)
		sum := sha256.Sum256([]byte(content))
		source := strings.TrimPrefix(o.source, "../")
		if i := strings.LastIndex(source, ":"); i > 0 && !strings.HasPrefix(source, "hand") {
			source = source[:i] // file:line -> file
		}
		name := strings.Trim(unsafe.ReplaceAllString(source, "-"), "-") + "-" + fmt.Sprintf("%x", sum[:4])
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fullCorpus is every object: the committed seed corpus, the fixtures and the
// hand seeds, each once per endpoint.
func fullCorpus(t *testing.T) []corpusObject {
	t.Helper()
	seen := map[string]bool{}
	var out []corpusObject
	for _, o := range slices.Concat(seedCorpus(t), fixtureObjects(t), handSeeds()) {
		if !json.Valid(o.object) || !apiserverShaped(o.object) {
			continue // what the fuzz targets skip too: no apiserver sends it
		}
		key := fmt.Sprintf("%s %d %s", o.path, o.sel, o.object)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, o)
	}
	return out
}

// auditConfigAll runs every policy in audit mode.
func auditConfigAll(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := regexp.MustCompile(`(?m)^mode: enforce$`).ReplaceAll(b, []byte("mode: audit"))
	cfg = regexp.MustCompile(`(?m)^    mode: enforce$`).ReplaceAll(cfg, []byte("    mode: audit"))
	if bytes.Equal(cfg, b) || bytes.Contains(cfg, []byte("mode: enforce")) {
		t.Fatalf("could not switch %s to audit", shippedConfig)
	}
	path := filepath.Join(t.TempDir(), "audit.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCorpusAnswers: every object on every endpoint of its kind, as its
// seed request, then as a CREATE in the audit namespace, then with every
// policy in audit mode: the properties of checkAnswer hold, and audit never
// denies nor patches.
func TestCorpusAnswers(t *testing.T) {
	enforce := serverHandlers(t, shippedConfig, false)
	audit := serverHandlers(t, auditConfigAll(t), false)
	all := fullCorpus(t)
	if len(all) < 100 {
		t.Fatalf("the corpus has %d objects; the fixtures were not found", len(all))
	}
	var decided, patched, denied, warned, auditWarned int
	for _, o := range all {
		ft := fuzzTargets[o.path]
		// As seeded.
		req := ft.request(o.object, o.sel)
		status, rv, _ := serveRaw(t, enforce[o.path], reviewBody(t, req))
		t.Run(o.path+"/"+o.source, func(t *testing.T) { checkAnswer(t, ft, req, status, rv) })
		if rv.Response.Result.Code != 400 {
			decided++
		}
		if len(rv.Response.Patch) > 0 {
			patched++
		}
		if rv.Response.Result.Code == 403 {
			denied++
		}
		if len(rv.Response.Warnings) > 0 {
			warned++
		}

		// A CREATE in the namespace labelled audit, and with every policy
		// in audit mode in its own namespace.
		for _, a := range []struct {
			name string
			h    map[string]*admission.Webhook
			sel  byte
		}{
			{"label", enforce, o.sel&^(3<<4|3) | 2<<4},
			{"config", audit, o.sel &^ 3},
		} {
			req := ft.request(o.object, a.sel)
			status, rv, _ := serveRaw(t, a.h[o.path], reviewBody(t, req))
			r := rv.Response
			t.Run(o.path+"/audit-"+a.name+"/"+o.source, func(t *testing.T) {
				checkAnswer(t, ft, req, status, rv)
				if r.Result.Code == 400 {
					return
				}
				if !r.Allowed || r.Result.Code != 200 || len(r.Patch) > 0 || r.PatchType != nil {
					t.Errorf("audit: allowed %v, result %+v, patch %s; want allowed without patch", r.Allowed, r.Result, r.Patch)
				}
			})
			if len(r.Warnings) > 0 {
				auditWarned++
			}
		}
	}
	// The properties above are only worth something if the corpus reaches
	// the decisions.
	t.Logf("%d requests: %d decided, %d patched, %d denied, %d with warnings; %d audit answers with warnings", len(all), decided, patched, denied, warned, auditWarned)
	if patched < 10 || denied < 10 || auditWarned < 20 {
		t.Errorf("the corpus reaches too few decisions: %d patched, %d denied, %d audit answers with warnings", patched, denied, auditWarned)
	}
}

// Istio's sidecar injection, simulated: the legacy layout (istio-init init
// container, istio-proxy container) and the native one (istio-proxy an init
// container with restartPolicy Always).
type istioLayout int

const (
	istioLegacy istioLayout = iota
	istioNative
)

// injectIstio adds Istio's containers to a raw pod the way its injector
// does, with the proxy image given; a pod already injected, or opted out
// (sidecar.istio.io/inject: "false"), is returned as it is.
func injectIstio(t *testing.T, raw []byte, layout istioLayout, image string) []byte {
	t.Helper()
	var pod map[string]any
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatal(err)
	}
	var typed corev1.Pod
	if err := json.Unmarshal(raw, &typed); err != nil {
		t.Fatal(err)
	}
	if typed.Labels[policies.IstioInjectLabel] == "false" || typed.Annotations[policies.IstioInjectLabel] == "false" {
		return raw
	}
	for _, c := range append(typed.Spec.InitContainers, typed.Spec.Containers...) {
		if c.Name == policies.IstioProxyContainer {
			return raw
		}
	}
	spec, _ := pod["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		pod["spec"] = spec
	}
	list := func(key string) []any { l, _ := spec[key].([]any); return l }
	initC := map[string]any{"name": "istio-init", "image": image, "args": []any{"istio-iptables", "-p", "15001"}}
	proxy := map[string]any{"name": policies.IstioProxyContainer, "image": image, "args": []any{"proxy", "sidecar"}}
	switch layout {
	case istioLegacy:
		spec["initContainers"] = append(list("initContainers"), initC)
		spec["containers"] = append(list("containers"), proxy)
	case istioNative:
		proxy["restartPolicy"] = "Always"
		spec["initContainers"] = append(list("initContainers"), initC, proxy)
	}
	spec["volumes"] = append(list("volumes"), map[string]any{"name": "istio-envoy", "emptyDir": map[string]any{}})
	meta, _ := pod["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations["sidecar.istio.io/status"] = `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"]}`
	out, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mutatingChain runs the mutating endpoints on a CREATE of raw in ns, in
// the apiserver's order, applying each patch; it returns the pod and the
// endpoints that patched it, or that denied it (the apiserver would stop
// there: a denied pod is not admitted).
func mutatingChain(t *testing.T, h map[string]*admission.Webhook, raw []byte, ns string) ([]byte, []string) {
	t.Helper()
	var patched []string
	for _, path := range []string{"/job-proxy", "/image-rewrite"} {
		req := admissionv1.AdmissionRequest{
			UID: "1de70000-0000-4000-8000-00000000000a", Kind: podKind, Resource: podResource,
			Name: "pod", Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: ptr.To(false),
		}
		status, rv, _ := serveRaw(t, h[path], reviewBody(t, req))
		checkAnswer(t, fuzzTargets[path], req, status, rv)
		r := rv.Response
		if !r.Allowed {
			return raw, append(patched, "denied by "+path)
		}
		if len(r.Patch) == 0 {
			continue
		}
		out, err := applyJSONPatch(r.Patch, raw)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		raw = out
		patched = append(patched, path)
	}
	return raw, patched
}

// TestCorpusIdempotent: each pod of the corpus goes through the mutating
// chain (job-proxy, image-rewrite) in a plain and in a mesh namespace; the
// pod it admits gives no patch a second time. In the mesh namespace Istio's
// injector then adds its containers (legacy and native layouts), as it does
// when its webhook runs after ours: with the proxy image from the mirror
// (istiod's hub, as the platform configures it) the chain changes nothing;
// with an upstream image, image-rewrite's reinvocation mirrors exactly the
// injected images and a further pass changes nothing. Injection before our
// chain ends the same way.
func TestCorpusIdempotent(t *testing.T) {
	h := serverHandlers(t, shippedConfig, false)
	const upstreamProxy = "docker.io/istio/proxyv2:1.24.2"
	mirroredProxy := "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/istio/proxyv2:1.24.2"
	var pods, mutated, injected int
	seen := map[string]bool{}
	for _, o := range fullCorpus(t) {
		if fuzzTargets[o.path].kinds[0].kind.Kind != "Pod" || seen[string(o.object)] {
			continue
		}
		seen[string(o.object)] = true
		if !decodesAsPod(o.object) {
			continue
		}
		pods++
		for _, ns := range []string{"tenant-a", "tenant-mesh"} {
			t.Run(ns+"/"+o.source, func(t *testing.T) {
				once, patched := mutatingChain(t, h, o.object, ns)
				if len(patched) > 0 && strings.HasPrefix(patched[len(patched)-1], "denied") {
					return // not admitted: nothing to run again
				}
				if len(patched) > 0 {
					mutated++
				}
				if _, again := mutatingChain(t, h, once, ns); again != nil {
					t.Fatalf("second pass patched by %q; admitted pod:\n%s", again, once)
				}
				if ns != "tenant-mesh" {
					return
				}
				for _, layout := range []istioLayout{istioLegacy, istioNative} {
					after := injectIstio(t, once, layout, mirroredProxy)
					if bytes.Equal(after, once) {
						continue
					}
					injected++
					if _, again := mutatingChain(t, h, after, ns); again != nil {
						t.Errorf("layout %d, mirrored proxy: chain patched by %q after injection", layout, again)
					}
					after = injectIstio(t, once, layout, upstreamProxy)
					re, again := mutatingChain(t, h, after, ns)
					if !slices.Equal(again, []string{"/image-rewrite"}) {
						t.Errorf("layout %d, upstream proxy: reinvocation patched by %q, want image-rewrite only", layout, again)
					}
					if _, again := mutatingChain(t, h, re, ns); again != nil {
						t.Errorf("layout %d: patched by %q after reinvocation", layout, again)
					}
					// Istio first, then our chain, then our chain again.
					first, _ := mutatingChain(t, h, injectIstio(t, o.object, layout, upstreamProxy), ns)
					if _, again := mutatingChain(t, h, first, ns); again != nil {
						t.Errorf("layout %d, Istio first: second pass patched by %q", layout, again)
					}
				}
			})
		}
	}
	t.Logf("%d pods, %d mutated, %d injections", pods, mutated, injected)
	if pods < 20 || mutated < 10 || injected < 20 {
		t.Errorf("the corpus reaches too little: %d pods, %d mutated, %d injections", pods, mutated, injected)
	}
}

// decodesAsPod says whether raw is a pod the apiserver could have sent.
func decodesAsPod(raw []byte) bool {
	var pod corev1.Pod
	return json.Unmarshal(raw, &pod) == nil && apiserverShaped(raw)
}
