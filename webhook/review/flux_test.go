package review

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// substituteInput are objects with every kind of ${...} Flux knows, values
// that need YAML quoting, an opt-out by label and one by annotation.
const substituteInput = `apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  labels:
    team: ${TEAM}
data:
  a: ${A}
  b: "${B:=fallback}"
  c: ${C:-other}
  d: $${LITERAL}
  e: prefix-${A}-suffix
  f: ${UPPER^^}
  quoted: ${QUOTE}
  number: "${NUMBER}"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: breaks-yaml
data:
  colon: ${COLON}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: opt-out-annotation
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  a: ${A}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: opt-out-label
  labels:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  a: ${UNDEFINED}
---
apiVersion: v1
kind: Service
metadata:
  name: nothing-to-do
spec:
  ports:
    - port: 80
`

// TestSubstituteAsFlux: finish substitutes every object exactly as Flux's
// SubstituteVariables (strict) does, and fails where it fails.
func TestSubstituteAsFlux(t *testing.T) {
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/app/objects.yaml", []byte(substituteInput)); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("/app/kustomization.yaml", []byte("resources: [objects.yaml]\n")); err != nil {
		t.Fatal(err)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/app")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TEAM": "a", "A": "1", "C": "", "UPPER": "loud", "QUOTE": `say "hi"`, "COLON": "k: v", "NUMBER": "42"}
	k := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "k", "namespace": "flux-system"},
		"spec":     map[string]any{"postBuild": map[string]any{"substitute": toAny(vars)}},
	}}
	for _, r := range res.Resources() {
		t.Run(r.GetName(), func(t *testing.T) {
			ours, oursErr := finish("Kustomization flux-system/k", "app", true, vars, nil, r.DeepCopy())
			out, err := fluxkustomize.SubstituteVariables(context.Background(), nil, k, r.DeepCopy(),
				fluxkustomize.SubstituteWithStrict(true), fluxkustomize.SubstituteWithDryRun(true))
			if (oursErr == nil) != (err == nil) {
				t.Fatalf("ours: %v; Flux's: %v", oursErr, err)
			}
			if err != nil {
				return // both refuse: a value that breaks the YAML it lands in
			}
			if out == nil {
				out = r
			}
			js, _ := out.MarshalJSON()
			var flux map[string]any
			if err := json.Unmarshal(js, &flux); err != nil {
				t.Fatal(err)
			}
			oursJS, _ := json.Marshal(ours.Object.Object)
			var got map[string]any
			_ = json.Unmarshal(oursJS, &got)
			if !reflect.DeepEqual(got, flux) {
				t.Errorf("ours:\n%s\nFlux's:\n%s", oursJS, js)
			}
		})
	}
	if data := res.Resources()[0]; data.GetName() != "plain" {
		t.Fatalf("first object %s", data.GetName())
	}

	// A variable defined nowhere: both refuse, ours names it.
	delete(vars, "A")
	_, err = finish("Kustomization flux-system/k", "app", true, vars, nil, res.Resources()[0].DeepCopy())
	want := `Kustomization flux-system/k: app: variable "A" is not defined (in postBuild.substitute, a postBuild.substituteFrom ConfigMap or Secret, or --vars)`
	if err == nil || err.Error() != want {
		t.Errorf("missing variable: %v\nwant %s", err, want)
	}
	k.Object["spec"] = map[string]any{"postBuild": map[string]any{"substitute": toAny(vars)}}
	if _, err := fluxkustomize.SubstituteVariables(context.Background(), nil, k, res.Resources()[0].DeepCopy(),
		fluxkustomize.SubstituteWithStrict(true), fluxkustomize.SubstituteWithDryRun(true)); err == nil || !strings.Contains(err.Error(), `"A"`) {
		t.Errorf("Flux's own substitution did not refuse the missing variable: %v", err)
	}
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
