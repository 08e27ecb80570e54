package policies

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The -update flag rewrites the golden files. Other test files of this
// package may define the same flag; registering it in init (after every
// package-level flag.Bool) only when it is missing keeps the two from
// panicking with "flag redefined".
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata")
	}
}

func imageUpdateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const imageRewriteTestdata = "testdata/image-rewrite"

// imageRewriteCases is the admission request of each case folder under
// testdata/image-rewrite; every folder must have an entry and vice versa.
var imageRewriteCases = map[string]Request{
	"deployment-pod":         {Operation: "CREATE", Namespace: "tenant-a"},
	"already-mirrored":       {Operation: "CREATE", Namespace: "tenant-a"},
	"excluded-namespace":     {Operation: "CREATE", Namespace: "kube-system"},
	"ephemeral-containers":   {Operation: "UPDATE", SubResource: "ephemeralcontainers", Namespace: "tenant-a"},
	"existing-annotation":    {Operation: "CREATE", Namespace: "tenant-a"},
	"istio-auto":             {Operation: "CREATE", Namespace: "istio-ingress"},
	"digest":                 {Operation: "CREATE", Namespace: "tenant-b"},
	"invalid-image":          {Operation: "CREATE", Namespace: "tenant-a"},
	"excluded-registry":      {Operation: "CREATE", Namespace: "tenant-a"},
	"pod-update-labels-only": {Operation: "UPDATE", Namespace: "tenant-a"},
	"pod-update-set-image":   {Operation: "UPDATE", Namespace: "tenant-a"},
	"pod-update-to-mirror":   {Operation: "UPDATE", Namespace: "tenant-a"},
	"ephemeral-second-debug": {Operation: "UPDATE", SubResource: "ephemeralcontainers", Namespace: "tenant-a"},
}

// TestImageRewriteGolden runs image-rewrite on each testdata/image-rewrite/<case>/pod.yaml
// (an UPDATE's old pod in old.yaml beside it) and compares the RFC 6902
// patch from the input to the mutated pod with patch.json, and the returned
// lines with changes.txt. A second pass over the result, as the apiserver's
// reinvocation makes it, must change nothing.
func TestImageRewriteGolden(t *testing.T) {
	entries, err := os.ReadDir(imageRewriteTestdata)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	var cases []string
	for name := range imageRewriteCases {
		cases = append(cases, name)
	}
	slices.Sort(cases)
	if !slices.Equal(dirs, cases) {
		t.Fatalf("case folders %q do not match the cases in the test %q", dirs, cases)
	}

	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(imageRewriteTestdata, name)
			req := imageRewriteCases[name]
			pod := imageReadPod(t, filepath.Join(dir, "pod.yaml"))
			if req.Operation == "UPDATE" {
				req.OldObject = imageReadPod(t, filepath.Join(dir, "old.yaml"))
			}
			if pod.Namespace != req.Namespace {
				t.Fatalf("pod.yaml namespace %q, request namespace %q", pod.Namespace, req.Namespace)
			}

			mutated := pod.DeepCopy()
			lines := NewImageRewrite(imageTestHubConfig()).Mutate(req, mutated)

			patch := imagePatch(t, pod, mutated)
			changes := ""
			if len(lines) > 0 {
				changes = strings.Join(lines, "\n") + "\n"
			}
			imageGolden(t, filepath.Join(dir, "patch.json"), patch)
			imageGolden(t, filepath.Join(dir, "changes.txt"), []byte(changes))

			again := mutated.DeepCopy()
			if lines := NewImageRewrite(imageTestHubConfig()).Mutate(req, again); len(lines) > 0 || !reflect.DeepEqual(again, mutated) {
				t.Errorf("second pass changed %q: %s", lines, imagePatch(t, mutated, again))
			}
		})
	}
}

func imageReadPod(t *testing.T, path string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pod
}

// imagePatch returns the JSON patch from before to after, ops sorted by path,
// indented, one op per element.
func imagePatch(t *testing.T, before, after *corev1.Pod) []byte {
	t.Helper()
	a, err := json.Marshal(before)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if ops == nil {
		ops = []jsonpatch.Operation{}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	out, err := json.MarshalIndent(ops, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// imageGolden compares got with the golden file, or rewrites it with -update.
func imageGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if imageUpdateGoldens() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policies -run TestImageRewriteGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestImageRewriteName(t *testing.T) {
	if got := NewImageRewrite(imageTestConfig()).Name(); got != "image-rewrite" {
		t.Errorf("Name() = %q, want %q", got, "image-rewrite")
	}
}

// TestImageRewriteIdempotent mutates every golden input twice: the second
// pass returns nothing and leaves the pod deep-equal to the first result.
func TestImageRewriteIdempotent(t *testing.T) {
	policy := NewImageRewrite(imageTestHubConfig())
	for name, req := range imageRewriteCases {
		t.Run(name, func(t *testing.T) {
			pod := imageReadPod(t, filepath.Join(imageRewriteTestdata, name, "pod.yaml"))
			policy.Mutate(req, pod)
			once := pod.DeepCopy()
			if lines := policy.Mutate(req, pod); lines != nil {
				t.Errorf("second Mutate returned %q, want nothing", lines)
			}
			if !reflect.DeepEqual(pod, once) {
				t.Errorf("second Mutate changed the pod")
			}
		})
	}
}

func TestImageRewriteLines(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers:     []corev1.Container{{Name: "app", Image: "nginx:1.25"}},
		InitContainers: []corev1.Container{{Name: "init", Image: "quay.io/jetstack/cert-manager-startupapicheck:v1.21.2"}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox"}}},
	}}
	got := NewImageRewrite(imageTestConfig()).Mutate(Request{Operation: "CREATE", Namespace: "tenant-a"}, pod)
	want := []string{
		`rewrite "quay.io/jetstack/cert-manager-startupapicheck:v1.21.2" to "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/jetstack/cert-manager-startupapicheck:v1.21.2"`,
		`rewrite "nginx:1.25" to "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/nginx:1.25"`,
		`rewrite "busybox" to "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/busybox:latest"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Mutate() lines\n got %q\nwant %q", got, want)
	}
	wantAnnotation := `{"app":"nginx:1.25","debug":"busybox","init":"quay.io/jetstack/cert-manager-startupapicheck:v1.21.2"}`
	if got := pod.Annotations[OriginalImagesAnnotation]; got != wantAnnotation {
		t.Errorf("annotation\n got %s\nwant %s", got, wantAnnotation)
	}
}

func TestImageRewriteBrokenAnnotation(t *testing.T) {
	for _, existing := range []string{"not json", "null", `["nginx"]`, `{"app":1}`} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{OriginalImagesAnnotation: existing}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
		}
		NewImageRewrite(imageTestHubConfig()).Mutate(Request{Operation: "CREATE", Namespace: "tenant-a"}, pod)
		want := `{"app":"nginx:1.25"}`
		if got := pod.Annotations[OriginalImagesAnnotation]; got != want {
			t.Errorf("existing annotation %q: got %s, want %s", existing, got, want)
		}
	}
}

func TestImageRewriteOtherRequests(t *testing.T) {
	unchanged := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}}
	for _, req := range []Request{
		{Operation: "UPDATE", Namespace: "tenant-a", OldObject: unchanged},
		{Operation: "UPDATE", SubResource: "ephemeralcontainers", Namespace: "tenant-a", OldObject: unchanged},
		{Operation: "CREATE", SubResource: "binding", Namespace: "tenant-a"},
		{Operation: "DELETE", Namespace: "tenant-a"},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}}
		if lines := NewImageRewrite(imageTestHubConfig()).Mutate(req, pod); lines != nil || pod.Spec.Containers[0].Image != "nginx:1.25" {
			t.Errorf("%+v: Mutate returned %q and image %q, want nothing changed", req, lines, pod.Spec.Containers[0].Image)
		}
	}
	// No operation at all (review of a file, a test) is a CREATE.
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}}}
	if lines := NewImageRewrite(imageTestHubConfig()).Mutate(Request{Namespace: "tenant-a"}, pod); len(lines) != 1 {
		t.Errorf("no operation: Mutate returned %q, want one rewrite", lines)
	}
}
