package webhook

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

// patchOf is the patch CreatePatch finds, its operations sorted (it walks
// maps, so their order varies from one call to the next).
func patchOf(t testing.TB, a, b []byte) []string {
	t.Helper()
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		t.Fatalf("CreatePatch(%s, %s): %v", a, b, err)
	}
	var out []string
	for _, op := range ops {
		out = append(out, op.Json())
	}
	slices.Sort(out)
	return out
}

func TestPruneEqual(t *testing.T) {
	for _, c := range []struct {
		name, a, b string
		// prunedA and prunedB are what CreatePatch gets; "" for "as they are".
		prunedA, prunedB string
	}{
		{"equal members left out", `{"a":1,"b":{"c":"x"},"d":[1,2]}`, `{"a":2,"b":{"c":"x"},"d":[1,2]}`, `{"a":1}`, `{"a":2}`},
		{"nested", `{"m":{"l":{"x":"1","y":"2"},"n":1}}`, `{"m":{"l":{"x":"1","y":"3"},"n":1}}`, `{"m":{"l":{"y":"2"}}}`, `{"m":{"l":{"y":"3"}}}`},
		{"member only in a or b", `{"a":{"k":[1]},"b":1}`, `{"b":1,"c":{"k":[2]}}`, `{"a":{"k":[1]}}`, `{"c":{"k":[2]}}`},
		{"equal elements null", `[{"i":"a","x":1},{"i":"b"},3]`, `[{"i":"a","x":2},{"i":"b"},3]`, `[{"x":1},null,null]`, `[{"x":2},null,null]`},
		{"elements added", `[1,{"a":1}]`, `[1,{"a":1},{"b":2},4]`, `[null,null]`, `[null,null,{"b":2},4]`},
		{"elements removed", `[1,2,3]`, `[1]`, `[null,2,3]`, `[null]`},
		{"type change", `{"a":{"x":1},"b":[1]}`, `{"a":[1],"b":{"x":1}}`, "", ""},
		{"strings with quotes, braces and escapes", `{"s":"a\"}],{[\\","t":"\u003cb\u003e"}`, `{"s":"a\"}],{[\\","t":"\u003cc\u003e"}`, `{"t":"\u003cb\u003e"}`, `{"t":"\u003cc\u003e"}`},
		{"empty object and array", `{"a":{},"b":[],"c":1}`, `{"a":{"x":1},"b":[1],"c":1}`, `{"a":{},"b":[]}`, `{"a":{"x":1},"b":[1]}`},
		{"null and scalars", `{"a":null,"b":true,"c":-1.5e3}`, `{"a":"x","b":false,"c":-1.5e3}`, `{"a":null,"b":true}`, `{"a":"x","b":false}`},
		{"top-level scalar", `"a"`, `"b"`, `"a"`, `"b"`},
		{"not compact", `{"a": 1}`, `{"a": 2}`, "", ""},
		{"invalid", `{"a":1`, `{"a":2}`, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			pa, pb := pruneEqual([]byte(c.a), []byte(c.b))
			wantA, wantB := c.prunedA, c.prunedB
			if wantA == "" {
				wantA, wantB = c.a, c.b
			}
			if string(pa) != wantA || string(pb) != wantB {
				t.Errorf("pruned to\n%s\n%s\nwant\n%s\n%s", pa, pb, wantA, wantB)
			}
			if json.Valid([]byte(c.a)) && json.Valid([]byte(c.b)) {
				if got, want := patchOf(t, pa, pb), patchOf(t, []byte(c.a), []byte(c.b)); !slices.Equal(got, want) {
					t.Errorf("patch %q, want %q", got, want)
				}
			}
		})
	}
}

// On the benchmark corpus's pods (image-rewrite's change, job-proxy's), the
// pruned patch is the patch, computed on a small part of the bytes.
func TestPruneEqualPods(t *testing.T) {
	pod := func(name string) *corev1.Pod {
		p := &corev1.Pod{}
		if err := json.Unmarshal(corpus.Get(name).Object(), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jobWrapped := pod("job-pod-jobproxy")
	jobWrapped.Spec.InitContainers = append(jobWrapped.Spec.InitContainers, corev1.Container{Name: "job-proxy-install", Image: "x"})
	jobWrapped.Spec.Containers[0].Command = append([]string{"/job-proxy/platform-webhook", "wrap", "--"}, jobWrapped.Spec.Containers[0].Command...)
	jobWrapped.Spec.Volumes = append(jobWrapped.Spec.Volumes, corev1.Volume{Name: "job-proxy-bin"})
	for _, c := range []struct {
		name          string
		before, after *corev1.Pod
	}{
		{"pod-3k", pod("pod-3k-rewrite"), pod("pod-3k-registry")},
		{"pod-9k", pod("pod-9k-rewrite"), pod("pod-9k-registry")},
		{"pod-19k", pod("pod-19k-rewrite"), pod("pod-19k-registry")},
		{"job-pod", pod("job-pod-jobproxy"), jobWrapped},
	} {
		a, err := json.Marshal(c.before)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(c.after)
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := pruneEqual(a, b)
		if len(pa)+len(pb) > (len(a)+len(b))/3 {
			t.Errorf("%s: pruned to %d+%d bytes of %d+%d", c.name, len(pa), len(pb), len(a), len(b))
		}
		got, want := patchOf(t, pa, pb), patchOf(t, a, b)
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s: patch\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// Any two JSON documents, written as encoding/json writes them: the pruned
// patch is the patch.
func FuzzPruneEqual(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"x"}],"c":{"d":null}}`), []byte(`{"a":[1,{"b":"y"},3],"c":{"d":null,"e":"\""}}`))
	f.Add([]byte(`[[1,2],[3]]`), []byte(`[[1],[3,4],{}]`))
	f.Add([]byte(`{"a\\\"b":{"}":"]"}}`), []byte(`{"a\\\"b":{"}":"["}}`))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		var vx, vy any
		if json.Unmarshal(x, &vx) != nil || json.Unmarshal(y, &vy) != nil {
			return
		}
		a, _ := json.Marshal(vx)
		b, _ := json.Marshal(vy)
		pa, pb := pruneEqual(a, b)
		if !json.Valid(pa) || !json.Valid(pb) {
			t.Fatalf("pruned %s and %s to invalid JSON %s and %s", a, b, pa, pb)
		}
		if got, want := patchOf(t, pa, pb), patchOf(t, a, b); !slices.Equal(got, want) {
			t.Fatalf("%s -> %s: patch %q, want %q", a, b, got, want)
		}
		if bytes.Equal(a, b) && a[0] == '{' && (string(pa) != "{}" || string(pb) != "{}") {
			t.Fatalf("equal %s pruned to %s and %s", a, pa, pb)
		}
	})
}

func BenchmarkPruneEqual(b *testing.B) {
	var before, after corev1.Pod
	if err := json.Unmarshal(corpus.Get("pod-9k-rewrite").Object(), &before); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(corpus.Get("pod-9k-registry").Object(), &after); err != nil {
		b.Fatal(err)
	}
	x, _ := json.Marshal(&before)
	y, _ := json.Marshal(&after)
	b.ReportAllocs()
	for b.Loop() {
		pruneEqual(x, y)
	}
}
