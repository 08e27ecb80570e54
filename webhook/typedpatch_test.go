package webhook_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// TestTypedPatchMatchesFullDiff: the patch the handler sends (typedPatch,
// which encodes only the members that differ) is the full diff, the patch
// the handler sent before it: jsonpatch.CreatePatch of json.Marshal of the
// pod before and after. On every pod of the testdata and fixtures (the
// fuzz seed corpus, webhook/testdata, policies/testdata, examples,
// manifests, test/manifests/testdata, the hand seeds) and of the benchmark
// corpus (test/bench/corpus): after the mutating chain as the server runs
// it (job-proxy, then image-rewrite, in a plain and a mesh namespace), and
// after each of pokes, changes that reach what the chain does not (members
// added, removed and emptied, nil against empty, own encodings, escaping).
func TestTypedPatchMatchesFullDiff(t *testing.T) {
	cfg, err := config.Load(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.Build(nil)
	set.UseIstio(oldKubelets())
	var compared, nonEmpty int
	for name, pod := range testdataPods(t) {
		for _, ns := range []string{"tenant-a", "tenant-mesh"} {
			before := pod.DeepCopy()
			before.Namespace = ns
			after := before.DeepCopy()
			req := policies.Request{Operation: "CREATE", Namespace: ns, Name: pod.Name, NamespaceLabels: serverNamespaces[ns]}
			set.Pods.Mutate(context.Background(), req, after)
			nonEmpty += comparePatches(t, name+"/chain/"+ns, before, after)
			compared++
		}
		for _, p := range pokes {
			after := pod.DeepCopy()
			p.change(after)
			nonEmpty += comparePatches(t, name+"/"+p.name, pod, after)
			compared++
		}
	}
	t.Logf("%d patches compared, %d of them not empty", compared, nonEmpty)
	if compared < 500 || nonEmpty < 400 {
		t.Errorf("%d patches compared, %d not empty: the fixtures were not found", compared, nonEmpty)
	}
}

// comparePatches fails the test when typedPatch and the full diff differ;
// it returns 1 when the patch has operations.
func comparePatches(t *testing.T, name string, before, after *corev1.Pod) int {
	t.Helper()
	full := fullDiff(t, name, before, after)
	typed, err := webhook.TypedPatch(before, after)
	if err != nil {
		t.Fatalf("%s: typedPatch: %v", name, err)
	}
	// CreatePatch walks maps, so the order of operations on the members of
	// one object varies from call to call: compared as sets.
	got, want := opStrings(typed), opStrings(full)
	if !slices.Equal(got, want) {
		t.Errorf("%s: typedPatch\n  %s\nfull diff\n  %s", name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	applies(t, name, typed, before, after)
	if len(want) > 0 {
		return 1
	}
	return 0
}

// applies fails the test unless ops, applied in order to before's encoding
// as the apiserver applies a webhook's patch (evanphx/json-patch), give
// after's.
func applies(t *testing.T, name string, ops []jsonpatch.Operation, before, after any) {
	t.Helper()
	a, b := encodeBoth(t, name, before, after)
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, err := p.Apply(a)
	if err != nil {
		t.Errorf("%s: the patch does not apply: %v\n%s", name, err, raw)
		return
	}
	if !jsonpatchapply.Equal(got, b) {
		t.Errorf("%s: the patch applied gives\n%s\nwant\n%s", name, got, b)
	}
}

// opStrings writes each operation as JSON with its value's object members
// sorted: the typed patches write a value as encoding/json writes the Go
// type (members in field order), CreatePatch as it writes the maps it
// decoded (sorted); the JSON values are the same.
func opStrings(ops []jsonpatch.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		var v any
		if err := json.Unmarshal([]byte(op.Json()), &v); err != nil {
			panic(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

// testdataPods are the pods of the fixtures (fullCorpus: each object sent to
// a pod endpoint that decodes as a pod) and of the benchmark corpus, by
// source.
func testdataPods(t *testing.T) map[string]*corev1.Pod {
	t.Helper()
	out := map[string]*corev1.Pod{}
	add := func(source string, raw []byte) {
		pod := &corev1.Pod{}
		if json.Unmarshal(raw, pod) != nil {
			return
		}
		for _, p := range out {
			if reflect.DeepEqual(p, pod) {
				return
			}
		}
		out[source] = pod
	}
	for _, o := range fullCorpus(t) {
		if fuzzTargets[o.path].kinds[0].kind.Kind == "Pod" {
			add(o.source, o.object)
		}
	}
	for _, c := range corpus.Cases() {
		if c.Kind == "Pod" {
			add("bench/"+c.Name, c.Object())
		}
	}
	if len(out) < 40 {
		t.Fatalf("%d pods in the testdata: the fixtures were not found", len(out))
	}
	return out
}

// pokes are changes to a pod that reach the cases of typedPatch the chain
// does not: a member added, removed, emptied (omitempty), nil against empty,
// types that encode themselves (quantities, times, managed fields), pointers
// set and cleared, arrays grown, shrunk and reordered, keys to escape.
var pokes = []struct {
	name   string
	change func(*corev1.Pod)
}{
	{"annotations nil", func(p *corev1.Pod) { p.Annotations = nil }},
	{"annotations empty", func(p *corev1.Pod) { p.Annotations = map[string]string{} }},
	{"annotation added", func(p *corev1.Pod) { setKey(&p.Annotations, "a/b~c", `x<y>&"\`) }},
	{"label changed", func(p *corev1.Pod) {
		setKey(&p.Labels, "app", "other")
		setKey(&p.Labels, "tier~/", "")
	}},
	{"labels cleared", func(p *corev1.Pod) { clear(p.Labels) }},
	{"first container removed", func(p *corev1.Pod) {
		if len(p.Spec.Containers) > 0 {
			p.Spec.Containers = p.Spec.Containers[1:]
		}
	}},
	{"containers appended", func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "x", Image: "x:1", Args: []string{}})
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "y", Image: "y:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
	}},
	{"containers nil", func(p *corev1.Pod) { p.Spec.Containers = nil }},
	{"containers empty", func(p *corev1.Pod) { p.Spec.Containers = []corev1.Container{} }},
	{"containers reversed", func(p *corev1.Pod) { slices.Reverse(p.Spec.Containers) }},
	{"every container changed", func(p *corev1.Pod) {
		for i := range p.Spec.Containers {
			c := &p.Spec.Containers[i]
			c.Image += "-x"
			c.Command = append([]string{"/w", "wrap", "--"}, c.Command...)
			c.Env = nil
			c.SecurityContext = nil
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m")}
			c.Resources.Requests = nil
			c.TerminationMessagePath = ""
		}
	}},
	{"quantities written another way", func(p *corev1.Pod) {
		for i := range p.Spec.Containers {
			r := &p.Spec.Containers[i].Resources
			for name, q := range r.Limits {
				r.Limits[name] = resource.MustParse(q.String()) // equal value, other internals
			}
			r.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("0.5Gi")}
		}
	}},
	{"pointers", func(p *corev1.Pod) {
		if p.Spec.TerminationGracePeriodSeconds == nil {
			p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
		} else {
			p.Spec.TerminationGracePeriodSeconds = nil
		}
		if p.Spec.SecurityContext == nil {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{}
		} else {
			p.Spec.SecurityContext.RunAsUser = ptr.To[int64](1)
		}
		p.Spec.AutomountServiceAccountToken = ptr.To(false)
	}},
	{"times", func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		p.DeletionTimestamp = &metav1.Time{}
		p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	}},
	{"managed fields and owners", func(p *corev1.Pod) {
		p.ManagedFields = append(p.ManagedFields, metav1.ManagedFieldsEntry{Manager: "m", Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}})
		for i := range p.OwnerReferences {
			p.OwnerReferences[i].Controller = ptr.To(false)
		}
		p.Finalizers = []string{}
	}},
	{"volumes", func(p *corev1.Pod) {
		for i := range p.Spec.Volumes {
			v := &p.Spec.Volumes[i]
			if v.Projected != nil && len(v.Projected.Sources) > 0 {
				v.Projected.Sources = v.Projected.Sources[:len(v.Projected.Sources)-1]
			}
			if v.EmptyDir != nil {
				v.EmptyDir.SizeLimit = nil
			}
		}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}},
	{"overhead, tolerations, ephemeral", func(p *corev1.Pod) {
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", TolerationSeconds: ptr.To[int64](5)})
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}, TargetContainerName: "app"})
	}},
	{"status", func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	}},
	{"nothing", func(*corev1.Pod) {}},
}

func setKey(m *map[string]string, k, v string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}

// BenchmarkTypedPatch is the handler's patch of image-rewrite's change to
// the 9 KB pod (the pod deep-copied, then compared); BenchmarkPruneEqual
// measures what it replaces, after the two json.Marshal of the pod.
func BenchmarkTypedPatch(b *testing.B) {
	var before, after corev1.Pod
	if err := json.Unmarshal(corpus.Get("pod-9k-rewrite").Object(), &before); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(corpus.Get("pod-9k-registry").Object(), &after); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.TypedPatch(before.DeepCopy(), &after); err != nil {
			b.Fatal(err)
		}
	}
}

// encodeBoth is json.Marshal of before and of after.
func encodeBoth(t *testing.T, name string, before, after any) ([]byte, []byte) {
	t.Helper()
	a, err := json.Marshal(before)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a, b
}
