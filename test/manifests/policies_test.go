package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/flux-infra/platform-webhook/webhook/config"
	"github.com/flux-infra/platform-webhook/webhook/review"
)

// mirrorOf is the ECR mirror the seed's variables name.
func mirrorOf(vars map[string]string) string {
	return vars["AWS_ACCOUNT_ID"] + ".dkr.ecr." + vars["AWS_REGION"] + ".amazonaws.com"
}

// seedConfig is the webhook configuration the seed deploys (the ConfigMap of
// the platform-webhook Kustomization, substituted), decoded and validated as
// the server does at start-up.
func seedConfig(t *testing.T, tr *Tree) *config.Config {
	t.Helper()
	for _, a := range tr.Applied {
		if a.Kustomization.GetName() != "platform-webhook" {
			continue
		}
		for _, o := range a.Objects {
			if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "platform-webhook-config-") {
				data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
				cfg, err := config.Parse("seed config.yaml", []byte(data))
				if err != nil {
					t.Fatalf("the seed's webhook config does not load: %v", err)
				}
				return cfg
			}
		}
	}
	t.Fatal("the platform-webhook Kustomization applies no ConfigMap platform-webhook-config-*")
	return nil
}

// reviewSeed reviews every object of the tree as the webhook would, with the
// webhook configuration the seed deploys and the whole seed as the cluster
// context (its Namespaces and Gateways exist before the tenants' objects
// arrive: dependsOn). edit, when set, may change the objects first.
func reviewSeed(t *testing.T, tr *Tree, edit func(o *unstructured.Unstructured)) map[string]review.Entry {
	t.Helper()
	cfg := seedConfig(t, tr)
	var docs []review.Document
	for _, a := range tr.Applied {
		for _, o := range a.Objects {
			if edit != nil {
				o = o.DeepCopy()
				edit(o)
			}
			docs = append(docs, review.Document{Source: "Kustomization " + a.Name() + ": " + describe(o), Object: o})
		}
	}
	r := review.NewReviewer(cfg, "", docs)
	out := map[string]review.Entry{}
	for _, d := range docs {
		e, err := r.Review(context.Background(), d)
		if err != nil {
			t.Errorf("%s: review: %v", d.Source, err)
			continue
		}
		out[d.Source] = e
	}
	return out
}

// The platform obeys its own rules: every object the seed applies, reviewed
// with the webhook configuration the seed deploys, is admitted, and none is
// changed (every image is already on the mirror and no Job joins the mesh, so
// the mutating policies have nothing to do). Warnings are listed in the log.
func TestSeedObeysPolicies(t *testing.T) {
	tr := fluxTree(t, configData(t))
	entries := reviewSeed(t, tr, nil)
	var sources []string
	for src := range entries {
		sources = append(sources, src)
	}
	sort.Strings(sources)
	kinds := map[string]int{}
	warnings := 0
	for _, src := range sources {
		e := entries[src]
		kinds[e.Kind]++
		if !e.Allowed {
			t.Errorf("%s: denied: %s", src, e.Message)
		}
		if len(e.Patch) > 0 {
			p, _ := json.Marshal(e.Patch)
			t.Errorf("%s: would be changed at admission: %s", src, p)
		}
		for _, w := range e.Warnings {
			warnings++
			t.Logf("warning: %s: %s", src, w)
		}
	}
	t.Logf("reviewed %d objects (%v), %d warnings", len(entries), kinds, warnings)
	// Every kind a policy reads is in the seed, so each policy had its say.
	for kind, min := range map[string]int{"HelmRelease": 8, "Kustomization": 14, "Gateway": 1, "VirtualService": 1, "Deployment": 1, "CronJob": 1} {
		if kinds[kind] < min {
			t.Errorf("reviewed %d %s objects, want at least %d", kinds[kind], kind, min)
		}
	}
}

// The review above can fail: the seed with one rule broken at a time is
// denied (or changed) by the policy that owns the rule.
func TestSeedPolicyCanaries(t *testing.T) {
	tr := fluxTree(t, configData(t))
	cases := []struct {
		name   string
		target string // the Source of the broken object
		edit   func(o *unstructured.Unstructured)
		denial string // prefix of the denial message; "" for a patch
	}{
		{
			name:   "infra release without targetNamespace",
			target: "Kustomization flux-system/cert-manager: HelmRelease flux-system/cert-manager",
			edit: func(o *unstructured.Unstructured) {
				unstructured.RemoveNestedField(o.Object, "spec", "targetNamespace")
			},
			denial: "[flux-placement] spec.targetNamespace: ",
		},
		{
			name:   "tenant Kustomization without its service account",
			target: "Kustomization flux-system/tenants: Kustomization team-a/team-a",
			edit: func(o *unstructured.Unstructured) {
				unstructured.RemoveNestedField(o.Object, "spec", "serviceAccountName")
			},
			denial: "[flux-placement] spec.serviceAccountName: ",
		},
		{
			name:   "tenant VirtualService on a host the Gateway does not give it",
			target: "Kustomization flux-system/tenants: VirtualService team-a/podinfo",
			edit: func(o *unstructured.Unstructured) {
				_ = unstructured.SetNestedStringSlice(o.Object, []string{"team-b.example.com"}, "spec", "hosts")
			},
			denial: "[gateway-hosts] spec.hosts[0]: ",
		},
		{
			name:   "CronJob image from upstream",
			target: "Kustomization flux-system/infra-sources: CronJob flux-system/ecr-credentials-sync",
			edit: func(o *unstructured.Unstructured) {
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
				containers[0].(map[string]any)["image"] = "registry.k8s.io/kubectl:v1.37.2"
				_ = unstructured.SetNestedSlice(o.Object, containers, "spec", "jobTemplate", "spec", "template", "spec", "containers")
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			entries := reviewSeed(t, tr, func(o *unstructured.Unstructured) {
				if "Kustomization "+kustomizationOf(tr, o)+": "+describe(o) == c.target {
					c.edit(o)
				}
			})
			e, ok := entries[c.target]
			if !ok {
				t.Fatalf("%s is not in the seed", c.target)
			}
			if c.denial == "" {
				if !e.Allowed || len(e.Patch) == 0 {
					t.Errorf("%s: allowed=%v message=%q patch=%v, want admitted with a patch", c.target, e.Allowed, e.Message, e.Patch)
				}
				return
			}
			if e.Allowed || !strings.HasPrefix(e.Message, c.denial) {
				t.Errorf("%s: allowed=%v message=%q, want a denial starting %q", c.target, e.Allowed, e.Message, c.denial)
			}
			for src, other := range entries {
				if src != c.target && !other.Allowed {
					t.Errorf("%s: denied too: %s", src, other.Message)
				}
			}
		})
	}
}

// kustomizationOf names the Flux Kustomization that applies o.
func kustomizationOf(tr *Tree, o *unstructured.Unstructured) string {
	for _, a := range tr.Applied {
		for _, x := range a.Objects {
			if x.GetKind() == o.GetKind() && x.GetNamespace() == o.GetNamespace() && x.GetName() == o.GetName() {
				return a.Name()
			}
		}
	}
	return ""
}

// imageKeys are the keys under which the seed names images: container
// images, and the chart values (and Kiali's spec) that become them.
var imageKeys = map[string]bool{
	"image": true, "repository": true, "repo": true, "imageRegistry": true, "hub": true, "image_name": true,
}

// Every image the seed names, in its own workloads and in the values of the
// charts it installs, is on the ECR mirror; and every release that runs pods
// sets its images, but the ones listed with the reason they need none.
func TestImagesFromMirror(t *testing.T) {
	vars := configData(t)
	mirror := mirrorOf(vars) + "/"
	noImages := map[string]string{
		"HelmRelease flux-system/istio-base":           "CRDs and cluster resources only, no pods",
		"HelmRelease flux-system/istio-ingressgateway": `image "auto": istiod's injector sets the proxy image from istiod's global.hub`,
	}
	tr := fluxTree(t, vars)
	checked := 0
	for _, o := range tr.Objects() {
		var found []string
		walkStrings(o.Object, "", func(path, key, value string) {
			if !imageKeys[key] {
				return
			}
			checked++
			found = append(found, path)
			if !strings.HasPrefix(value, mirror) {
				t.Errorf("%s: %s is %q, not on the mirror %s", describe(o), path, value, mirror)
			}
		})
		if o.GetKind() == "HelmRelease" {
			reason, exempt := noImages[describe(o)]
			switch {
			case exempt && len(found) > 0:
				t.Errorf("%s sets images at %v but is listed as needing none (%s)", describe(o), found, reason)
			case !exempt && len(found) == 0:
				t.Errorf("%s sets no image in spec.values: its pods would pull from upstream", describe(o))
			}
			delete(noImages, describe(o))
		}
	}
	for name := range noImages {
		t.Errorf("%s is listed as needing no images but is not in the seed", name)
	}
	if checked < 10 {
		t.Errorf("checked only %d image references", checked)
	}
}

// walkStrings calls f for every string value in v, with its path and key.
func walkStrings(v any, path string, f func(path, key, value string)) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if s, ok := v[k].(string); ok {
				f(p, k, s)
				continue
			}
			walkStrings(v[k], p, f)
		}
	case []any:
		for i, e := range v {
			walkStrings(e, path+"["+strconv.Itoa(i)+"]", f)
		}
	}
}

// The webhook configurations the seed deploys are those of
// manifests/webhook/webhooks.yaml, unchanged, and that file is the one the
// end-to-end tests register.
func TestWebhookConfigurationsAreTheShippedFile(t *testing.T) {
	tr := fluxTree(t, configData(t))
	seed := map[string]*unstructured.Unstructured{}
	for _, o := range tr.Objects() {
		if k := o.GetKind(); k == "MutatingWebhookConfiguration" || k == "ValidatingWebhookConfiguration" {
			seed[k+"/"+o.GetName()] = o
		}
	}
	shippedFile := filepath.Join(manifestsDir(), "webhook", "webhooks.yaml")
	shipped := readObjects(t, shippedFile)
	// 00-platform-webhook-job-proxy (before Istio's injector) and the two
	// platform-webhook configurations.
	if len(shipped) != 3 || len(seed) != len(shipped) {
		t.Fatalf("webhook configurations: %d in the seed, %d in %s, want 3 each", len(seed), len(shipped), shippedFile)
	}
	for _, s := range shipped {
		key := s.GetKind() + "/" + s.GetName()
		o := seed[key]
		if o == nil {
			t.Errorf("%s of webhooks.yaml is not deployed by the seed", key)
			continue
		}
		// Compared as JSON: one side went through substitution (numbers
		// decoded as float64), the other not.
		got, _ := json.MarshalIndent(o.Object["webhooks"], "", "  ")
		want, _ := json.MarshalIndent(s.Object["webhooks"], "", "  ")
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the seed's webhooks differ from webhooks.yaml:\n seed: %s\n file: %s", key, got, want)
		}
		if !reflect.DeepEqual(o.GetAnnotations(), s.GetAnnotations()) {
			t.Errorf("%s: annotations %v, webhooks.yaml has %v", key, o.GetAnnotations(), s.GetAnnotations())
		}
	}

	src, err := os.ReadFile(filepath.Join(repoRoot(), "test", "e2e", "main_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	registers := regexp.MustCompile(`InstallWebhooks\([^\n]*filepath\.Join\(root, "manifests", "webhook", "webhooks\.yaml"\)`)
	if !registers.Match(src) {
		t.Errorf("test/e2e/main_test.go no longer registers manifests/webhook/webhooks.yaml with InstallWebhooks: the end-to-end tests would not test what the seed deploys")
	}
}

// The seed's webhook configuration is manifests/webhook/config.yaml (what the
// end-to-end tests run on) with only its images moved to the cluster's mirror:
// the mirror itself, and job-proxy's helper image, which is the webhook image
// the seed deploys. Compared after defaults, as the server sees them.
func TestSeedWebhookConfig(t *testing.T) {
	vars := configData(t)
	tr := fluxTree(t, vars)
	seed := asMap(t, seedConfig(t, tr))
	base, err := config.Load(filepath.Join(manifestsDir(), "webhook", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := asMap(t, base)

	registry := []string{"policies", "imageRewrite", "registry"}
	if got, _, _ := unstructured.NestedString(seed, registry...); got != mirrorOf(vars) {
		t.Errorf("seed config: policies.imageRewrite.registry is %q, want %q", got, mirrorOf(vars))
	}
	copyField(t, seed, want, registry)

	helper := []string{"policies", "jobProxy", "helperImage"}
	if _, found, _ := unstructured.NestedString(want, helper...); found {
		webhookImage := ""
		for _, o := range tr.Objects() {
			if o.GetKind() == "Deployment" && objectName(o) == "platform-webhook/platform-webhook" {
				containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				c, _ := containers[0].(map[string]any)
				webhookImage, _ = c["image"].(string)
			}
		}
		if got, _, _ := unstructured.NestedString(seed, helper...); got != webhookImage || webhookImage == "" {
			t.Errorf("seed config: policies.jobProxy.helperImage is %q, want the webhook's deployed image %q", got, webhookImage)
		}
		copyField(t, seed, want, helper)
	} else {
		t.Logf("the config has no policies.jobProxy.helperImage: not compared")
	}

	got, _ := json.MarshalIndent(seed, "", "  ")
	exp, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(got, exp) {
		t.Errorf("manifests/infrastructure/platform-webhook/config.yaml differs from manifests/webhook/config.yaml beyond its images; keep them in step:\n seed: %s\n base: %s", got, exp)
	}
}

// asMap is a value as its JSON object.
func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// copyField sets path in dst to its value in src.
func copyField(t *testing.T, dst, src map[string]any, path []string) {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(src, path...)
	if err != nil || !found {
		t.Fatalf("%s not found: %v", strings.Join(path, "."), err)
	}
	if err := unstructured.SetNestedField(dst, v, path...); err != nil {
		t.Fatal(err)
	}
}

// readObjects reads every object of a multi-document YAML file.
func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", file, err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// image-rewrite and image-registry see the same pod updates: both match pod
// UPDATE, with the same matchConditions (only updates that change an image).
// Were image-registry's narrower, an image change could skip the check.
func TestImageWebhooksMatchTheSameUpdates(t *testing.T) {
	conditions := map[string]any{}
	for _, o := range readObjects(t, filepath.Join(manifestsDir(), "webhook", "webhooks.yaml")) {
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, h := range hooks {
			hook := h.(map[string]any)
			name := hook["name"].(string)
			if name != "image-rewrite.flux-infra.io" && name != "image-registry.flux-infra.io" {
				continue
			}
			rules, _ := json.Marshal(hook["rules"])
			if want := `[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE","UPDATE"],"resources":["pods"],"scope":"Namespaced"},` +
				`{"apiGroups":[""],"apiVersions":["v1"],"operations":["UPDATE"],"resources":["pods/ephemeralcontainers"],"scope":"Namespaced"}]`; string(rules) != want {
				t.Errorf("%s: rules %s\nwant %s", name, rules, want)
			}
			conditions[name] = hook["matchConditions"]
		}
	}
	if len(conditions) != 2 || conditions["image-rewrite.flux-infra.io"] == nil {
		t.Fatalf("matchConditions of the image webhooks: %v", conditions)
	}
	if !reflect.DeepEqual(conditions["image-rewrite.flux-infra.io"], conditions["image-registry.flux-infra.io"]) {
		t.Errorf("matchConditions differ:\n image-rewrite:  %v\n image-registry: %v", conditions["image-rewrite.flux-infra.io"], conditions["image-registry.flux-infra.io"])
	}
}
