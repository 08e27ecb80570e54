package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"go.yaml.in/yaml/v3"
)

// mirror is the registry of the embedded default configuration.
const mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// originalImages is the annotation image-rewrite records the replaced images in.
const originalImages = "platform-webhook.flux-infra.io/original-images"

// runReview calls review as "platform-webhook review ARGS..." would and
// returns the exit code, standard output and standard error.
func runReview(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := review(args, strings.NewReader(stdin), &stdout, &stderr)
	for _, s := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
			t.Fatalf("review %q printed a panic or a stack trace:\n%s", args, s)
		}
	}
	return code, stdout.String(), stderr.String()
}

// writeFile writes content to dir/name (creating folders) and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeEntries parses review -o json output.
func decodeEntries(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var entries []map[string]any
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
		t.Fatalf("output is not a JSON array of objects: %v\n%s", err, stdout)
	}
	return entries
}

// parseYAML reads every document of a YAML stream as JSON-shaped values
// (numbers as float64), the way the test sees the input.
func parseYAML(t *testing.T, texts ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, text := range texts {
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var v map[string]any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("test input is not YAML: %v", err)
			}
			if v == nil {
				continue
			}
			out = append(out, normalize(t, v))
		}
	}
	return out
}

// normalize round-trips a value through JSON.
func normalize(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkContract checks the -o json contract of every entry against the input
// objects, in input order: exactly the eight keys, warnings and patch arrays,
// and the patch applied (RFC 6902, no lenient options) to the input gives the
// object.
func checkContract(t *testing.T, entries, inputs []map[string]any) {
	t.Helper()
	if len(entries) != len(inputs) {
		t.Fatalf("got %d entries for %d input objects", len(entries), len(inputs))
	}
	want := []string{"allowed", "kind", "message", "name", "namespace", "object", "patch", "source", "warnings"}
	for i, e := range entries {
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("entry %d keys = %q, want %q", i, keys, want)
		}
		if src, _ := e["source"].(string); src == "" {
			t.Errorf("entry %d source = %#v, want where the object came from", i, e["source"])
		}
		for _, k := range []string{"kind", "namespace", "name", "message"} {
			if _, ok := e[k].(string); !ok {
				t.Errorf("entry %d %s = %#v, want a string", i, k, e[k])
			}
		}
		if _, ok := e["allowed"].(bool); !ok {
			t.Errorf("entry %d allowed = %#v, want a bool", i, e["allowed"])
		}
		if _, ok := e["warnings"].([]any); !ok {
			t.Errorf("entry %d warnings = %#v, want an array", i, e["warnings"])
		}
		patch, ok := e["patch"].([]any)
		if !ok {
			t.Errorf("entry %d patch = %#v, want an array", i, e["patch"])
			continue
		}
		in := inputs[i]
		if e["kind"] != in["kind"] {
			t.Errorf("entry %d kind = %v, want %v (input order)", i, e["kind"], in["kind"])
		}
		meta, _ := in["metadata"].(map[string]any)
		if e["name"] != meta["name"] {
			t.Errorf("entry %d name = %v, want %v (input order)", i, e["name"], meta["name"])
		}
		got := applyPatch(t, in, patch)
		if !reflect.DeepEqual(got, e["object"]) {
			t.Errorf("entry %d (%v %v): input + patch != object\ninput+patch: %s\nobject: %s", i, e["kind"], e["name"], toJSON(t, got), toJSON(t, e["object"]))
		}
	}
}

// applyPatch applies an RFC 6902 patch, strictly, to a copy of obj.
func applyPatch(t *testing.T, obj map[string]any, patch []any) map[string]any {
	t.Helper()
	doc, _ := json.Marshal(obj)
	raw, _ := json.Marshal(patch)
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatalf("patch is not RFC 6902: %v\n%s", err, raw)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("patch does not apply to the input: %v\npatch: %s\ninput: %s", err, raw, doc)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// field walks obj along path (map keys, or array indexes as ints).
func field(t *testing.T, obj any, path ...any) any {
	t.Helper()
	v := obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %q", path, k)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("%v: no index %d", path, k)
			}
			v = a[k]
		}
	}
	return v
}

// set sets obj[path] = value, creating maps on the way.
func set(obj map[string]any, value any, path ...any) {
	var v any = obj
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m := v.(map[string]any)
			if last {
				m[k] = value
				return
			}
			if m[k] == nil {
				m[k] = map[string]any{}
			}
			v = m[k]
		case int:
			a := v.([]any)
			if last {
				a[k] = value
				return
			}
			v = a[k]
		}
	}
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := []string{}
	for _, s := range a {
		out = append(out, s.(string))
	}
	return out
}

func TestReviewExitCodes(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: mirrored
  namespace: team
spec:
  containers:
    - name: app
      image: `+mirror+`/docker-hub/library/nginx:1.27
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data: {a: b}
`)
	denied := writeFile(t, dir, "denied.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: fine
spec:
  containers:
    - name: app
      image: nginx:1.27
---
apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
    - name: shell
      image: Busybox:1.36
`)

	t.Run("all allowed: 0", func(t *testing.T) {
		code, stdout, stderr := runReview(t, "", ok)
		if code != 0 {
			t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
		if stderr != "" {
			t.Errorf("stderr = %q, want nothing", stderr)
		}
		if !strings.Contains(stdout, "image: "+mirror+"/docker-hub/library/nginx:1.27") {
			t.Errorf("stdout lacks the rewritten image:\n%s", stdout)
		}
	})
	t.Run("one denied: 1", func(t *testing.T) {
		code, _, stderr := runReview(t, "", ok, denied)
		if code != 1 {
			t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
		}
		want := "Denied: Pod default/typo (" + denied + ":10): [image-registry] spec.containers[0].image: container \"shell\" uses \"Busybox:1.36\" which is not a valid image reference (repository names are lower case)\n"
		if stderr != want {
			t.Errorf("stderr =\n%s\nwant\n%s", stderr, want)
		}
	})

	badConfig := writeFile(t, dir, "config.yaml", "mode: enforce\npolicies:\n  imageRewrite:\n    registy: "+mirror+"\n")
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no PATH", []string{}, "review: no PATH given (a file, a folder or - for standard input), and no --flux DIR\n"},
		{"no PATH, flags only", []string{"-o", "json"}, "review: no PATH given (a file, a folder or - for standard input), and no --flux DIR\n"},
		{"--flux and a PATH", []string{"--flux", ".", ok}, "review: --flux reviews what Flux applies from its folder: give no PATH with it (found [\"" + ok + "\"])\n"},
		{"--vars without --flux", []string{"--vars", ok, ok}, "review: --repo-root and --vars go with --flux\n"},
		{"unknown flag", []string{"--bogus", ok}, "review: unknown flag: --bogus\n"},
		{"output xml", []string{"-o", "xml", ok}, "review: --output must be yaml, json or github (found \"xml\")\n"},
		{"mode strict", []string{"--mode", "strict", ok}, "review: --mode must be enforce or audit (found \"strict\")\n"},
		{"mode off", []string{"--mode=off", ok}, "review: --mode must be enforce or audit (found \"off\")\n"},
		{"missing file", []string{ok, missing}, "review: " + missing + ": no such file or directory\n"},
		{"missing context", []string{"--context", missing, ok}, "review: " + missing + ": no such file or directory\n"},
		{"unknown config field", []string{"--config", badConfig, ok}, "review: " + badConfig + ":4: unknown field \"policies.imageRewrite.registy\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runReview(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stderr != tc.stderr {
				t.Errorf("stderr = %q\nwant     %q", stderr, tc.stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestReviewBadInputNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	const first = `apiVersion: v1
kind: ConfigMap
metadata:
  name: first
---
`
	for _, tc := range []struct {
		name, second string
		// stderr is the whole message; prefix only where the rest is the
		// converter's own words.
		stderr string
		prefix bool
	}{
		{
			name: "YAML syntax error",
			// Line 11 of the file: a colon in an unquoted value.
			second: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\ndata:\n  command: echo a: b\n",
			stderr: "FILE:11: mapping values are not allowed in this context\n",
		},
		{
			name:   "no kind",
			second: "# the second object\napiVersion: v1\nmetadata:\n  name: second\n",
			stderr: "FILE:7: not a Kubernetes object: kind is missing\n",
		},
		{
			name:   "no apiVersion",
			second: "kind: ConfigMap\nmetadata:\n  name: second\n",
			stderr: "FILE:6: apiVersion is missing\n",
		},
		{
			name:   "scalar document",
			second: "just some text\n",
			stderr: "FILE:6: expected a Kubernetes object (a mapping with apiVersion and kind)\n",
		},
		{
			name:   "sequence document",
			second: "- apiVersion: v1\n  kind: ConfigMap\n",
			stderr: "FILE:6: expected a Kubernetes object (a mapping with apiVersion and kind)\n",
		},
		{
			name:   "containers is a string",
			second: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: second\nspec:\n  containers: nginx:1.27\n",
			stderr: "FILE:6: not a valid Pod: ",
			prefix: true,
		},
		{
			name:   "Deployment without a pod template",
			second: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: second\nspec:\n  replicas: 1\n",
			stderr: "FILE:6: Deployment has no pod template at spec.template\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml", first+tc.second)
			code, stdout, stderr := runReview(t, "", f)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			want := "review: " + strings.Replace(tc.stderr, "FILE", f, 1)
			if tc.prefix {
				if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("stderr = %q, want one line starting %q", stderr, want)
				}
			} else if stderr != want {
				t.Errorf("stderr = %q\nwant     %q", stderr, want)
			}
		})
	}
}

func TestReviewJSONContract(t *testing.T) {
	input := `apiVersion: v1
kind: Pod
metadata:
  name: no-namespace
spec:
  containers:
    - name: app
      image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
data:
  key: value
---
apiVersion: v1
kind: Pod
metadata:
  name: already-mirrored
  namespace: team
  annotations:
    keep: me
spec:
  containers:
    - name: app
      image: ` + mirror + `/docker-hub/library/nginx:1.27
---
apiVersion: v1
kind: Pod
metadata:
  name: typo
  namespace: team
spec:
  containers:
    - name: shell
      image: Busybox:1.36
`
	f := writeFile(t, t.TempDir(), "objects.yaml", input)
	code, stdout, stderr := runReview(t, "", "-o", "json", f)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing with -o json", stderr)
	}
	entries := decodeEntries(t, stdout)
	inputs := parseYAML(t, input)
	checkContract(t, entries, inputs)
	if len(entries) != 4 {
		t.FailNow()
	}

	type summary struct {
		Kind, Namespace, Name string
		Allowed               bool
		Message               string
		Warnings              []string
	}
	got := make([]summary, len(entries))
	for i, e := range entries {
		got[i] = summary{e["kind"].(string), e["namespace"].(string), e["name"].(string), e["allowed"].(bool), e["message"].(string), strs(e["warnings"])}
	}
	want := []summary{
		{"Pod", "default", "no-namespace", true, "", []string{}},
		{"ConfigMap", "team", "settings", true, "", []string{}},
		{"Pod", "team", "already-mirrored", true, "", []string{}},
		{"Pod", "team", "typo", false, `[image-registry] spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)`, []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries =\n%+v\nwant\n%+v", got, want)
	}

	// The rewritten pod: exactly the image and the annotation changed.
	wantPod := inputs[0]
	set(wantPod, mirror+"/docker-hub/library/nginx:1.27", "spec", "containers", 0, "image")
	set(wantPod, `{"app":"nginx:1.27"}`, "metadata", "annotations", originalImages)
	if !reflect.DeepEqual(entries[0]["object"], wantPod) {
		t.Errorf("object = %s\nwant %s", toJSON(t, entries[0]["object"]), toJSON(t, wantPod))
	}
	// The others are unchanged, with an empty patch: a second pass over a
	// mirrored pod changes nothing, a denied pod is not patched.
	for i := 1; i < 4; i++ {
		if n := len(entries[i]["patch"].([]any)); n != 0 {
			t.Errorf("entry %d patch has %d operations, want none", i, n)
		}
		if !reflect.DeepEqual(entries[i]["object"], inputs[i]) {
			t.Errorf("entry %d object changed: %s", i, toJSON(t, entries[i]["object"]))
		}
	}
}

// template is a pod template used by every workload kind: an init container
// and a container to rewrite, one already in the mirror, and fields the
// policies must leave alone.
const template = `
      initContainers:
        - name: init
          image: busybox:1.36
          command: ["true"]
      containers:
        - name: app
          image: nginx:1.27
          env: [{name: A, value: "1"}]
          resources: {limits: {cpu: 500m, memory: 64Mi}}
        - name: proxy
          image: ` + mirror + `/docker-hub/envoyproxy/envoy:v1.31.0
`

func TestReviewWorkloads(t *testing.T) {
	const annotation = `{"app":"nginx:1.27","init":"busybox:1.36"}`
	for _, tc := range []struct {
		kind, yaml string
		tmpl       []any
	}{
		{"Deployment", `apiVersion: apps/v1
kind: Deployment
metadata: {name: w, namespace: team, labels: {tier: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: w}}
  strategy: {type: Recreate}
  template:
    metadata:
      labels: {app: w}
    spec:
      someFutureField: true` + template, []any{"spec", "template"}},
		{"StatefulSet", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: w, namespace: team}
spec:
  serviceName: w
  selector: {matchLabels: {app: w}}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  template:
    metadata:
      labels: {app: w}
      annotations: {prometheus.io/scrape: "true"}
    spec:` + template, []any{"spec", "template"}},
		{"DaemonSet", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: w, namespace: team}
spec:
  selector: {matchLabels: {app: w}}
  template:
    metadata:
      labels: {app: w}
    spec:
      tolerations: [{operator: Exists}]` + template, []any{"spec", "template"}},
		{"ReplicaSet", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: w, namespace: team}
spec:
  replicas: 1
  selector: {matchLabels: {app: w}}
  template:
    metadata:
      labels: {app: w}
    spec:` + template, []any{"spec", "template"}},
		{"Job", `apiVersion: batch/v1
kind: Job
metadata: {name: w, namespace: team}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never` + template, []any{"spec", "template"}},
		{"CronJob", `apiVersion: batch/v1
kind: CronJob
metadata: {name: w, namespace: team}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure` + indent(template, "    "), []any{"spec", "jobTemplate", "spec", "template"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "w.yaml", tc.yaml)
			code, stdout, stderr := runReview(t, "", "-o", "json", f)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
			}
			entries := decodeEntries(t, stdout)
			inputs := parseYAML(t, tc.yaml)
			checkContract(t, entries, inputs)
			e := entries[0]
			if e["kind"] != tc.kind || e["allowed"] != true || len(strs(e["warnings"])) != 0 {
				t.Errorf("entry = %v %v allowed=%v warnings=%q", e["kind"], e["name"], e["allowed"], strs(e["warnings"]))
			}

			// The images at the template's path, as its pods are admitted.
			obj := e["object"]
			spec := append(slices.Clone(tc.tmpl), "spec")
			if got, want := field(t, obj, append(slices.Clone(spec), "initContainers", 0, "image")...), mirror+"/docker-hub/library/busybox:1.36"; got != want {
				t.Errorf("initContainers[0].image = %v, want %v", got, want)
			}
			if got, want := field(t, obj, append(slices.Clone(spec), "containers", 0, "image")...), mirror+"/docker-hub/library/nginx:1.27"; got != want {
				t.Errorf("containers[0].image = %v, want %v", got, want)
			}
			if got, want := field(t, obj, append(slices.Clone(spec), "containers", 1, "image")...), mirror+"/docker-hub/envoyproxy/envoy:v1.31.0"; got != want {
				t.Errorf("containers[1].image = %v, want %v", got, want)
			}

			// Every operation is inside the pod template.
			prefix := "/"
			for _, p := range tc.tmpl {
				prefix += p.(string) + "/"
			}
			patch := e["patch"].([]any)
			if len(patch) == 0 {
				t.Errorf("empty patch")
			}
			for _, op := range patch {
				if p := op.(map[string]any)["path"].(string); !strings.HasPrefix(p, prefix) {
					t.Errorf("patch path %q is not under %q", p, prefix)
				}
			}

			// Nothing else changed: the input with the two images and the
			// annotation set by hand is the object.
			want := inputs[0]
			set(want, mirror+"/docker-hub/library/busybox:1.36", append(slices.Clone(spec), "initContainers", 0, "image")...)
			set(want, mirror+"/docker-hub/library/nginx:1.27", append(slices.Clone(spec), "containers", 0, "image")...)
			set(want, annotation, append(slices.Clone(tc.tmpl), "metadata", "annotations", originalImages)...)
			if !reflect.DeepEqual(obj, want) {
				t.Errorf("object =\n%s\nwant\n%s", toJSON(t, obj), toJSON(t, want))
			}
		})
	}

	t.Run("Deployment patch", func(t *testing.T) {
		// The exact patch for a template that has metadata: paths under
		// /spec/template, sorted.
		f := writeFile(t, t.TempDir(), "d.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:`+template)
		code, stdout, stderr := runReview(t, "", "-o", "json", f)
		if code != 0 {
			t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
		}
		got := toJSON(t, decodeEntries(t, stdout)[0]["patch"])
		want := toJSON(t, []any{
			map[string]any{"op": "add", "path": "/spec/template/metadata/annotations", "value": map[string]any{originalImages: annotation}},
			map[string]any{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": mirror + "/docker-hub/library/nginx:1.27"},
			map[string]any{"op": "replace", "path": "/spec/template/spec/initContainers/0/image", "value": mirror + "/docker-hub/library/busybox:1.36"},
		})
		if got != want {
			t.Errorf("patch =\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("unknown fields survive", func(t *testing.T) {
		f := writeFile(t, t.TempDir(), "d.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  someFutureSpecField: {a: 1}
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      someFutureField: true
      containers:
        - name: app
          image: nginx:1.27
          someFutureContainerField: [x]
`)
		code, stdout, _ := runReview(t, "", "-o", "json", f)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		obj := decodeEntries(t, stdout)[0]["object"]
		if got := field(t, obj, "spec", "template", "spec", "someFutureField"); got != true {
			t.Errorf("spec.template.spec.someFutureField = %v, want true", got)
		}
		if got := field(t, obj, "spec", "someFutureSpecField", "a"); got != float64(1) {
			t.Errorf("spec.someFutureSpecField.a = %v, want 1", got)
		}
		if got := field(t, obj, "spec", "template", "spec", "containers", 0, "someFutureContainerField", 0); got != "x" {
			t.Errorf("containers[0].someFutureContainerField = %v, want [x]", got)
		}
		if got := field(t, obj, "spec", "template", "spec", "containers", 0, "image"); got != mirror+"/docker-hub/library/nginx:1.27" {
			t.Errorf("image = %v", got)
		}
	})
}

// indent prefixes every non-empty line of s.
func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

const auditNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: tenant-x
  labels:
    flux-infra.io/admission-mode: audit
`

const podInTenantX = `apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: tenant-x
spec:
  containers:
    - name: api
      image: nginx:1.27
`

func TestReviewModes(t *testing.T) {
	dir := t.TempDir()
	ctx := writeFile(t, dir, "context/namespaces.yaml", auditNamespace)
	pod := writeFile(t, dir, "pod.yaml", podInTenantX)
	typo := writeFile(t, dir, "typo.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: tenant-a
spec:
  containers:
    - name: shell
      image: Busybox:1.36
`)
	rewritten := mirror + "/docker-hub/library/nginx:1.27"
	auditWarnings := []string{
		`[image-rewrite] would rewrite "nginx:1.27" to "` + rewritten + `"`,
		`[image-registry] would deny: spec.containers[0].image: container "api" uses "nginx:1.27" which is not in the mirror (allowed: images under "` + mirror + `/")`,
	}

	one := func(t *testing.T, wantCode int, args ...string) map[string]any {
		t.Helper()
		code, stdout, stderr := runReview(t, "", append([]string{"-o", "json"}, args...)...)
		if code != wantCode {
			t.Fatalf("exit %d, want %d; stderr: %s", code, wantCode, stderr)
		}
		entries := decodeEntries(t, stdout)
		if len(entries) != 1 {
			t.Fatalf("%d entries, want 1 (context objects are not reviewed)", len(entries))
		}
		return entries[0]
	}

	t.Run("audit namespace from --context", func(t *testing.T) {
		e := one(t, 0, "--context", ctx, pod)
		if e["allowed"] != true || e["message"] != "" {
			t.Errorf("allowed=%v message=%q", e["allowed"], e["message"])
		}
		if got := strs(e["warnings"]); !slices.Equal(got, auditWarnings) {
			t.Errorf("warnings =\n%q\nwant\n%q", got, auditWarnings)
		}
		if n := len(e["patch"].([]any)); n != 0 {
			t.Errorf("patch has %d operations, want none in audit", n)
		}
		if !reflect.DeepEqual(e["object"], parseYAML(t, podInTenantX)[0]) {
			t.Errorf("object changed in audit: %s", toJSON(t, e["object"]))
		}
	})
	t.Run("audit namespace from a --context folder", func(t *testing.T) {
		e := one(t, 0, "--context", filepath.Dir(ctx), pod)
		if got := strs(e["warnings"]); !slices.Equal(got, auditWarnings) {
			t.Errorf("warnings = %q, want %q", got, auditWarnings)
		}
	})
	t.Run("namespace not given: enforce", func(t *testing.T) {
		e := one(t, 0, pod)
		if got := strs(e["warnings"]); len(got) != 0 {
			t.Errorf("warnings = %q, want none", got)
		}
		if got := field(t, e["object"], "spec", "containers", 0, "image"); got != rewritten {
			t.Errorf("image = %v, want %v", got, rewritten)
		}
	})
	t.Run("--mode enforce overrides the namespace label", func(t *testing.T) {
		e := one(t, 0, "--mode", "enforce", "--context", ctx, pod)
		if got := strs(e["warnings"]); len(got) != 0 {
			t.Errorf("warnings = %q, want none", got)
		}
		if got := field(t, e["object"], "spec", "containers", 0, "image"); got != rewritten {
			t.Errorf("image = %v, want %v", got, rewritten)
		}
	})
	t.Run("--mode audit turns a denial into a warning", func(t *testing.T) {
		e := one(t, 0, "--mode", "audit", typo)
		if e["allowed"] != true || e["message"] != "" {
			t.Errorf("allowed=%v message=%q", e["allowed"], e["message"])
		}
		want := []string{`[image-registry] would deny: spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)`}
		if got := strs(e["warnings"]); !slices.Equal(got, want) {
			t.Errorf("warnings = %q, want %q", got, want)
		}
	})
	t.Run("--mode audit, yaml: exit 0, the warning on stderr", func(t *testing.T) {
		code, _, stderr := runReview(t, "", "--mode", "audit", typo)
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		want := "Warning: Pod tenant-a/debug (" + typo + `:1): [image-registry] would deny: spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)` + "\n"
		if stderr != want {
			t.Errorf("stderr = %q\nwant     %q", stderr, want)
		}
	})
	t.Run("a Namespace among the inputs counts", func(t *testing.T) {
		f := writeFile(t, dir, "both.yaml", podInTenantX+"---\n"+auditNamespace)
		code, stdout, _ := runReview(t, "", "-o", "json", f)
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		entries := decodeEntries(t, stdout)
		if got := strs(entries[0]["warnings"]); !slices.Equal(got, auditWarnings) {
			t.Errorf("warnings = %q, want %q", got, auditWarnings)
		}
	})
}

// stdinStream is reviewed from standard input; the line numbers in
// TestReviewYAMLOutput are counted by hand from it.
const stdinStream = `apiVersion: v1
kind: Namespace
metadata:
  name: tenant-x
  labels:
    flux-infra.io/admission-mode: audit
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: tenant-x
spec:
  containers:
    - name: api
      image: bitnami/redis:7.2
---
# a typo
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: tenant-y
spec:
  containers:
    - name: shell
      image: Busybox:1.36
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: tenant-y
spec:
  containers:
    - name: web
      image: nginx:1.27
`

func TestReviewYAMLOutput(t *testing.T) {
	code, stdout, stderr := runReview(t, stdinStream, "-")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	wantStderr := `Warning: Pod tenant-x/api (<stdin>:8): [image-rewrite] would rewrite "bitnami/redis:7.2" to "` + mirror + `/docker-hub/bitnami/redis:7.2"
Warning: Pod tenant-x/api (<stdin>:8): [image-registry] would deny: spec.containers[0].image: container "api" uses "bitnami/redis:7.2" which is not in the mirror (allowed: images under "` + mirror + `/")
Denied: Pod tenant-y/debug (<stdin>:19): [image-registry] spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)
`
	if stderr != wantStderr {
		t.Errorf("stderr =\n%s\nwant\n%s", stderr, wantStderr)
	}

	objects := parseYAML(t, stdout)
	type obj struct{ Kind, Name, Image string }
	var got []obj
	for _, o := range objects {
		image := ""
		if o["kind"] == "Pod" {
			image = field(t, o, "spec", "containers", 0, "image").(string)
		}
		got = append(got, obj{o["kind"].(string), field(t, o, "metadata", "name").(string), image})
	}
	want := []obj{
		{"Namespace", "tenant-x", ""},
		{"Pod", "api", "bitnami/redis:7.2"},
		{"Pod", "debug", "Busybox:1.36"},
		{"Pod", "web", mirror + "/docker-hub/library/nginx:1.27"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stdout objects = %+v\nwant %+v\nstdout:\n%s", got, want, stdout)
	}
	if got := field(t, objects[3], "metadata", "annotations", originalImages); got != `{"web":"nginx:1.27"}` {
		t.Errorf("web annotation = %v", got)
	}
	if _, ok := field(t, objects[1], "metadata").(map[string]any)["annotations"]; ok {
		t.Errorf("audit pod got annotations: %s", toJSON(t, objects[1]))
	}
}

func TestReviewStdinJSON(t *testing.T) {
	// "-" among other paths, in order; JSON input.
	dir := t.TempDir()
	before := writeFile(t, dir, "before.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before}\n")
	after := writeFile(t, dir, "after.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}}`)
	stdin := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "from-stdin"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}`
	code, stdout, stderr := runReview(t, stdin, "-o", "json", before, "-", after)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	var names []string
	for _, e := range entries {
		names = append(names, e["name"].(string))
	}
	if want := []string{"before", "from-stdin", "after"}; !slices.Equal(names, want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	if got := field(t, entries[1]["object"], "spec", "containers", 0, "image"); got != mirror+"/docker-hub/library/nginx:latest" {
		t.Errorf("image = %v", got)
	}
	checkContract(t, entries[1:2], []map[string]any{normalize(t, map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "from-stdin"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx"}}},
	})})
}

func TestReviewFolders(t *testing.T) {
	dir := t.TempDir()
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	}
	// Written out of order on purpose.
	writeFile(t, dir, "z.yaml", cm("z"))
	writeFile(t, dir, "sub/d.yaml", cm("d"))
	writeFile(t, dir, "notes.txt", "not: [yaml\n")
	writeFile(t, dir, "README.md", "# not an object\n")
	writeFile(t, dir, "c.yaml", `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: c1}
  - apiVersion: v1
    kind: Pod
    metadata: {name: c2, namespace: team}
    spec:
      containers: [{name: c, image: "nginx:1.27"}]
`)
	writeFile(t, dir, "b.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}`)
	writeFile(t, dir, "a.yml", cm("a")+"---\n"+cm("a2"))

	code, stdout, stderr := runReview(t, "", "-o", "json", dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	var names []string
	for _, e := range entries {
		names = append(names, e["kind"].(string)+"/"+e["name"].(string))
	}
	want := []string{"ConfigMap/a", "ConfigMap/a2", "ConfigMap/b", "ConfigMap/c1", "Pod/c2", "ConfigMap/d", "ConfigMap/z"}
	if !slices.Equal(names, want) {
		t.Errorf("objects = %q\nwant      %q", names, want)
	}
	if len(entries) == len(want) {
		if got := field(t, entries[4]["object"], "spec", "containers", 0, "image"); got != mirror+"/docker-hub/library/nginx:1.27" {
			t.Errorf("List item image = %v", got)
		}
		if got := entries[4]["namespace"]; got != "team" {
			t.Errorf("List item namespace = %v", got)
		}
	}
}

// TestReviewExamples runs the quickstart, "platform-webhook review examples/",
// from the repository root. The expectations are written from the example
// files: tenant-a is enforced, tenant-b is in audit, the typo is denied, and
// so is the tenant HelmRelease examples/flux/tenants/team-a/redis.yaml and
// the VirtualService examples/istio/tenant-a-hijack.yaml.
func TestReviewExamples(t *testing.T) {
	t.Chdir("../..")
	files := []string{ // lexical order
		"examples/flux/clusters/production/infrastructure.yaml",
		"examples/flux/clusters/production/tenants.yaml",
		"examples/flux/infrastructure/aws-load-balancer-controller/release.yaml",
		"examples/flux/infrastructure/cert-manager/namespace.yaml",
		"examples/flux/infrastructure/cert-manager/release.yaml",
		"examples/flux/infrastructure/sources/ecr-helm.yaml",
		"examples/flux/tenants/team-a/namespace.yaml",
		"examples/flux/tenants/team-a/podinfo.yaml",
		"examples/flux/tenants/team-a/redis.yaml",
		"examples/flux/tenants/team-a/sync.yaml",
		"examples/istio/gateway.yaml",
		"examples/istio/tenant-a-hijack.yaml",
		"examples/istio/tenant-a-shop.yaml",
		"examples/job-db-migrate.yaml",
		"examples/namespaces.yaml",
		"examples/tenant-a-report.yaml",
		"examples/tenant-a-typo.yaml",
		"examples/tenant-a-web.yaml",
		"examples/tenant-a-worker.yaml",
		"examples/tenant-b-api.yaml",
	}
	var texts []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	inputs := parseYAML(t, texts...)
	const exporter = "quay.io/prometheus/nginx-exporter@sha256:3a8ba4d5f4f5e1e4f0b7d1c6a2b9e8f7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1"
	typoDenial := `[image-registry] spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)`
	// examples/flux/tenants/team-a/redis.yaml: a tenant release copied from an infra one.
	redisDenial := `[flux-placement] spec.chart.spec.sourceRef.namespace: must be unset or "team-a", the namespace of the release (found "flux-system"); ` +
		`[flux-placement] spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "helm-controller")`
	// examples/istio/tenant-a-hijack.yaml: tenant-a claims a host of tenant-b.
	hijackDenial := `[gateway-hosts] spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a.example.com", "*.a.example.com")`
	// examples/tenant-a-web.yaml: the exporter is in the mirror, pinned by digest only.
	digestWarning := `[image-registry] spec.containers[1].image: pinned by digest (sha256:3a8ba4d5f4f5): a first pull by digest through the pull-through cache can miss; pull it once by a tag that points at it to warm the cache`
	redisWarnings := []string{
		`[image-rewrite] would rewrite "bitnami/redis:7.2" to "` + mirror + `/docker-hub/bitnami/redis:7.2"`,
		`[image-registry] would deny: spec.containers[0].image: container "api" uses "bitnami/redis:7.2" which is not in the mirror (allowed: images under "` + mirror + `/")`,
	}

	t.Run("yaml", func(t *testing.T) {
		code, stdout, stderr := runReview(t, "", "examples/")
		if code != 1 {
			t.Errorf("exit %d, want 1 (tenant-a-typo.yaml and flux/tenants/team-a/redis.yaml are denied)", code)
		}
		want := "Denied: HelmRelease team-a/redis (examples/flux/tenants/team-a/redis.yaml:5): " + redisDenial + "\n" +
			"Denied: VirtualService tenant-a/checkout (examples/istio/tenant-a-hijack.yaml:4): " + hijackDenial + "\n" +
			"Denied: Pod tenant-a/debug (examples/tenant-a-typo.yaml:3): " + typoDenial + "\n" +
			"Warning: Deployment tenant-a/web (examples/tenant-a-web.yaml:3): " + digestWarning + "\n" +
			"Warning: Pod tenant-b/api (examples/tenant-b-api.yaml:3): " + redisWarnings[0] + "\n" +
			"Warning: Pod tenant-b/api (examples/tenant-b-api.yaml:3): " + redisWarnings[1] + "\n"
		if stderr != want {
			t.Errorf("stderr =\n%s\nwant\n%s", stderr, want)
		}
		if n := len(parseYAML(t, stdout)); n != 14+4+2+7 {
			t.Errorf("stdout has %d objects, want 27 (14 in flux/, 4 in istio/, 2 in job-db-migrate.yaml, 7 beside them)", n)
		}
	})

	t.Run("json", func(t *testing.T) {
		code, stdout, _ := runReview(t, "", "-o", "json", "examples/")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		entries := decodeEntries(t, stdout)
		checkContract(t, entries, inputs)
		type summary struct {
			Kind, Namespace, Name string
			Allowed               bool
			Message               string
			Warnings              []string
		}
		var got []summary
		for _, e := range entries {
			got = append(got, summary{e["kind"].(string), e["namespace"].(string), e["name"].(string), e["allowed"].(bool), e["message"].(string), strs(e["warnings"])})
		}
		// examples/flux/ comes first (lexical order). Infra objects live in
		// flux-system, tenant objects in team-a; only redis breaks a rule.
		fluxWant := []summary{
			{"Kustomization", "flux-system", "infrastructure", true, "", []string{}},
			{"Kustomization", "flux-system", "tenants", true, "", []string{}},
			{"HelmRelease", "flux-system", "aws-load-balancer-controller", true, "", []string{}},
			{"Namespace", "", "cert-manager", true, "", []string{}},
			{"HelmRelease", "flux-system", "cert-manager", true, "", []string{}},
			{"HelmRepository", "flux-system", "ecr-helm", true, "", []string{}},
			{"Namespace", "", "team-a", true, "", []string{}},
			{"ServiceAccount", "team-a", "team-a-deployer", true, "", []string{}},
			{"RoleBinding", "team-a", "team-a-deployer", true, "", []string{}},
			{"OCIRepository", "team-a", "podinfo", true, "", []string{}},
			{"HelmRelease", "team-a", "podinfo", true, "", []string{}},
			{"HelmRelease", "team-a", "redis", false, redisDenial, []string{}},
			{"GitRepository", "team-a", "team-a", true, "", []string{}},
			{"Kustomization", "team-a", "team-a-apps", true, "", []string{}},
		}
		// examples/istio/: the ops Gateway, then tenant-a's two VirtualServices.
		istioWant := []summary{
			{"Namespace", "", "istio-ingress", true, "", []string{}},
			{"Gateway", "istio-ingress", "public", true, "", []string{}},
			{"VirtualService", "tenant-a", "checkout", false, hijackDenial, []string{}},
			{"VirtualService", "tenant-a", "shop", true, "", []string{}},
		}
		// examples/job-db-migrate.yaml: a Job in a mesh namespace.
		jobWant := []summary{
			{"Namespace", "", "tenant-c", true, "", []string{}},
			{"Job", "tenant-c", "db-migrate", true, "", []string{}},
		}
		want := append(append(append(slices.Clone(fluxWant), istioWant...), jobWant...), []summary{
			{"Namespace", "", "tenant-a", true, "", []string{}},
			{"Namespace", "", "tenant-b", true, "", []string{}},
			{"CronJob", "tenant-a", "nightly-report", true, "", []string{}},
			{"Pod", "tenant-a", "debug", false, typoDenial, []string{}},
			{"Deployment", "tenant-a", "web", true, "", []string{digestWarning}},
			{"Pod", "tenant-a", "worker", true, "", []string{}},
			{"Pod", "tenant-b", "api", true, "", redisWarnings},
		}...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("entries =\n%+v\nwant\n%+v", got, want)
		}
		// Flux objects are validated, never changed; the checks below index
		// the entries beside examples/flux/.
		for i := range len(fluxWant) + len(istioWant) { // Istio objects too
			if !reflect.DeepEqual(entries[i]["object"], inputs[i]) {
				t.Errorf("entry %d (%v %v) changed: %s", i, entries[i]["kind"], entries[i]["name"], toJSON(t, entries[i]["object"]))
			}
		}
		entries, inputs = entries[len(fluxWant)+len(istioWant):], inputs[len(fluxWant)+len(istioWant):]

		// The Job's pod template as its pods are admitted: no Nodes in
		// --context, so kubelets count as 1.33+ and Istio's proxy will be a
		// native sidecar; job-proxy leaves the Job alone, image-rewrite
		// mirrors it (job_proxy_review_test.go has the wrapped case).
		migrate := inputs[1]
		set(migrate, mirror+"/ghcr.io/example/db-migrate:1.4.0", "spec", "template", "spec", "containers", 0, "image")
		set(migrate, `{"migrate":"ghcr.io/example/db-migrate:1.4.0"}`, "spec", "template", "metadata", "annotations", originalImages)
		if !reflect.DeepEqual(entries[1]["object"], migrate) {
			t.Errorf("Job object =\n%s\nwant\n%s", toJSON(t, entries[1]["object"]), toJSON(t, migrate))
		}
		if !reflect.DeepEqual(entries[0]["object"], inputs[0]) {
			t.Errorf("Namespace tenant-c changed: %s", toJSON(t, entries[0]["object"]))
		}
		entries, inputs = entries[len(jobWant):], inputs[len(jobWant):]

		cron := inputs[2]
		set(cron, mirror+"/registry.k8s.io/kubectl:v1.37.2", "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "image")
		set(cron, `{"report":"registry.k8s.io/kubectl:v1.37.2"}`, "spec", "jobTemplate", "spec", "template", "metadata", "annotations", originalImages)
		if !reflect.DeepEqual(entries[2]["object"], cron) {
			t.Errorf("CronJob object =\n%s\nwant\n%s", toJSON(t, entries[2]["object"]), toJSON(t, cron))
		}

		web := inputs[4]
		set(web, mirror+"/ghcr.io/example/web-migrations:2.4.1", "spec", "template", "spec", "initContainers", 0, "image")
		set(web, mirror+"/docker-hub/library/nginx:1.27", "spec", "template", "spec", "containers", 0, "image")
		set(web, mirror+"/"+exporter, "spec", "template", "spec", "containers", 1, "image")
		set(web, `{"exporter":"`+exporter+`","migrate":"ghcr.io/example/web-migrations:2.4.1","web":"nginx:1.27"}`, "spec", "template", "metadata", "annotations", originalImages)
		if !reflect.DeepEqual(entries[4]["object"], web) {
			t.Errorf("Deployment object =\n%s\nwant\n%s", toJSON(t, entries[4]["object"]), toJSON(t, web))
		}

		worker := inputs[5]
		set(worker, mirror+"/docker-hub/bitnami/redis:7.2", "spec", "containers", 0, "image")
		set(worker, mirror+"/quay.io/oliver006/redis_exporter:v1.62.0", "spec", "containers", 1, "image")
		set(worker, `{"metrics":"quay.io/oliver006/redis_exporter:v1.62.0","worker":"bitnami/redis:7.2"}`, "metadata", "annotations", originalImages)
		if !reflect.DeepEqual(entries[5]["object"], worker) {
			t.Errorf("worker Pod object =\n%s\nwant\n%s", toJSON(t, entries[5]["object"]), toJSON(t, worker))
		}

		for _, i := range []int{0, 1, 3, 6} { // unchanged
			if !reflect.DeepEqual(entries[i]["object"], inputs[i]) {
				t.Errorf("entry %d changed: %s", i, toJSON(t, entries[i]["object"]))
			}
		}
	})
}
