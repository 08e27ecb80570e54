package webhook_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// TestScopedPatchMatchesFullDiff: the patch the handler builds from the
// scoped mutators' snapshot (scopedpatch.go) is the full diff (jsonpatch.
// CreatePatch of json.Marshal of the pod before and after) on every pod of
// the testdata and fixtures (testdataPods), for job-proxy and image-rewrite
// alone (one webhook each, as the server runs them) and as one chain (as
// review runs them): a CREATE in a plain and in a mesh namespace with
// job-proxy's wrapper and with its native-sidecar annotation, an UPDATE
// that sets the first container's image, and kubectl debug's UPDATE of the
// ephemeralcontainers subresource. None may need the whole-object fallback.
func TestScopedPatchMatchesFullDiff(t *testing.T) {
	wrapper, err := config.Load(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	native, err := config.Load(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	native.Policies.JobProxy.Strategy = policies.JobProxyNative
	var chains []*webhook.Chain[*corev1.Pod]
	for _, cfg := range []*config.Config{wrapper, native} {
		set := cfg.Build(nil)
		set.UseIstio(oldKubelets())
		chains = append(chains, set.Pods)
		for _, m := range set.Pods.Mutators {
			one := *set.Pods
			one.Mutators = []policies.Mutator[*corev1.Pod]{m}
			chains = append(chains, &one)
		}
	}

	var compared, nonEmpty int
	for name, pod := range testdataPods(t) {
		for _, c := range scopedCases(pod) {
			for _, chain := range chains {
				var paths []string
				for _, m := range chain.Mutators {
					paths = append(paths, m.(policies.Scoped).Scope()...)
				}
				before, after := c.pod.DeepCopy(), c.pod.DeepCopy()
				scoped, ok, err := webhook.ScopedPatch(paths, after, func() {
					chain.Mutate(context.Background(), c.req, after)
				})
				label := name + "/" + c.name + "/" + strings.Join(mutatorNames(chain), "+")
				if err != nil || !ok {
					t.Errorf("%s: scoped patch: ok %v, %v", label, ok, err)
					continue
				}
				full := fullDiff(t, label, before, after)
				if got, want := opStrings(scoped), opStrings(full); !slices.Equal(got, want) {
					t.Errorf("%s: scoped patch\n  %s\nfull diff\n  %s", label, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
				applies(t, label, scoped, before, after)
				compared++
				if len(full) > 0 {
					nonEmpty++
				}
			}
		}
	}
	t.Logf("%d patches compared, %d of them not empty", compared, nonEmpty)
	if compared < 1000 || nonEmpty < 600 {
		t.Errorf("%d patches compared, %d not empty: the fixtures were not found", compared, nonEmpty)
	}
}

type scopedCase struct {
	name string
	req  policies.Request
	pod  *corev1.Pod
}

// scopedCases are the requests TestScopedPatchMatchesFullDiff sends pod in.
func scopedCases(pod *corev1.Pod) []scopedCase {
	var out []scopedCase
	for _, ns := range []string{"tenant-a", "tenant-mesh"} {
		p := pod.DeepCopy()
		p.Namespace = ns
		out = append(out, scopedCase{"create/" + ns, policies.Request{Operation: "CREATE", Namespace: ns, Name: pod.Name,
			NamespaceLabels: serverNamespaces[ns]}, p})
	}
	old := pod.DeepCopy()
	old.Namespace = "tenant-a"
	if len(old.Spec.Containers) > 0 {
		p := old.DeepCopy()
		p.Spec.Containers[0].Image = "nginx:1.27"
		out = append(out, scopedCase{"set image", policies.Request{Operation: "UPDATE", Namespace: "tenant-a", Name: pod.Name,
			OldObject: old}, p})
	}
	p := old.DeepCopy()
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger-x", Image: "busybox:1.36"}})
	out = append(out, scopedCase{"kubectl debug", policies.Request{Operation: "UPDATE", SubResource: "ephemeralcontainers",
		Namespace: "tenant-a", Name: pod.Name, OldObject: old}, p})
	return out
}

func mutatorNames(c *webhook.Chain[*corev1.Pod]) []string {
	var out []string
	for _, m := range c.Mutators {
		out = append(out, m.Name())
	}
	return out
}

// fullDiff is the patch the handler sent before typedPatch and scopes.
func fullDiff(t *testing.T, name string, before, after runtime.Object) []jsonpatch.Operation {
	t.Helper()
	full, err := jsonpatch.CreatePatch(encodeBoth(t, name, before, after))
	if err != nil {
		t.Fatalf("%s: full diff: %v", name, err)
	}
	return full
}

// Outside the scope of TestScopedPatchMatchesFullDiff's mutators: scopes
// that overlap, nil parents, members encoding/json leaves out, and where the
// snapshot must give way to the whole object.
func TestScopedPatchEdges(t *testing.T) {
	base := func() *corev1.Pod {
		return &corev1.Pod{
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "a", Image: "a:1", Command: []string{"run"}}, {Name: "b", Image: "b:1"}},
			},
			ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"x", "y"}},
		}
	}
	for _, c := range []struct {
		name   string
		paths  []string
		change func(*corev1.Pod)
		ok     bool // the snapshot answers (else the handler compares the whole)
	}{
		{"image changed", []string{"spec.containers[*].image"}, func(p *corev1.Pod) { p.Spec.Containers[1].Image = "x/b:1" }, true},
		{"image emptied: omitted", []string{"spec.containers[*].image"}, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, true},
		{"annotations from nil, key to escape", []string{"metadata.annotations"}, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"a/b~c": `"q"`}
		}, true},
		{"annotation removed", []string{"metadata.annotations"}, func(p *corev1.Pod) {
			p.Annotations = nil
		}, true},
		{"command grown: the array's own diff", []string{"spec.containers[*].command"}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Command = append([]string{"/w", "--"}, p.Spec.Containers[0].Command...)
			p.Spec.Containers[1].Command = []string{"sh"}
		}, true},
		{"overlapping scopes: each change once", []string{"spec.containers[*].image", "spec.containers", "spec.containers[*].image"},
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "x/a:1"
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c"})
			}, true},
		{"init containers from none", []string{"spec.initContainers"}, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "i:1"}}
		}, true},
		{"through a nil pointer", []string{"spec.securityContext.runAsUser"}, func(p *corev1.Pod) {}, false},
		{"a container added under [*]", []string{"spec.containers[*].image"}, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Image: "c:1"})
		}, false},
		{"containers emptied under [*]", []string{"spec.containers[*].image"}, func(p *corev1.Pod) { p.Spec.Containers = nil }, false},
		{"elements as the leaves: an empty one is written", []string{"metadata.finalizers[*]"}, func(p *corev1.Pod) {
			p.Finalizers[1] = ""
		}, true},
		{"appended to", []string{"spec.containers[+]"}, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Image: "c:1"})
		}, true},
		{"appended to from nil", []string{"spec.initContainers[+]"}, func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "c", Image: "c:1"})
		}, true},
		{"appended to and changed under [*]", []string{"spec.containers[*].image", "spec.containers[+]"}, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c", Image: "c:1"})
			p.Spec.Containers[0].Image = "x/a:1"
			p.Spec.Containers[2].Image = "x/c:1"
		}, true},
		{"shrunk under [+]", []string{"spec.containers[+]"}, func(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }, false},
		{"nothing changed", []string{"spec.containers[*].image", "metadata.annotations"}, func(*corev1.Pod) {}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, after := base(), base()
			ops, ok, err := webhook.ScopedPatch(c.paths, after, func() { c.change(after) })
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.ok {
				t.Fatalf("ok %v, want %v (ops %v)", ok, c.ok, ops)
			}
			if !ok {
				return
			}
			if got, want := opStrings(ops), opStrings(fullDiff(t, c.name, before, after)); !slices.Equal(got, want) {
				t.Errorf("scoped patch\n  %s\nfull diff\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			applies(t, c.name, ops, before, after)
		})
	}
}

// Every mutator's scope compiles for its type (a mistake would only show
// as a deep copy and an error log), and mistakes are named.
func TestScopesCompile(t *testing.T) {
	cfg, err := config.Load(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.Build(nil)
	for _, m := range set.Pods.Mutators {
		s, ok := m.(policies.Scoped)
		if !ok {
			t.Errorf("%s is not scoped: the handler deep-copies every pod it gets", m.Name())
			continue
		}
		if err := webhook.CompileScope(&corev1.Pod{}, s.Scope()); err != nil {
			t.Errorf("%s: %v", m.Name(), err)
		}
	}
	for _, c := range []struct{ path, want string }{
		{"spec.containerz[*].image", `scope "spec.containerz[*].image" of v1.Pod: v1.PodSpec has no member "containerz"`},
		{"spec.nodeName[*]", `scope "spec.nodeName[*]" of v1.Pod: "nodeName" is not an array`},
		{"metadata.labels.app", `scope "metadata.labels.app" of v1.Pod: "app" is not in a struct this file follows`},
		{"spec.containers[+].image", `scope "spec.containers[+].image" of v1.Pod: "containers[+]": "[+]" ends a path`},
		{"metadata.creationTimestamp.seconds", `scope "metadata.creationTimestamp.seconds" of v1.Pod: "seconds" is not in a struct this file follows`},
	} {
		err := webhook.CompileScope(&corev1.Pod{}, []string{c.path})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %s", c.path, err, c.want)
		}
	}
}
