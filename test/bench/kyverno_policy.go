package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flux-infra/platform-webhook/policies"
)

// kyvernoPolicyName is the ClusterPolicy doing image-rewrite's rewrite.
const kyvernoPolicyName = "image-rewrite"

// kyvernoPolicy is a Kyverno ClusterPolicy that rewrites pod images as
// image-rewrite does with cfg (policies.MirrorImage): an image whose
// registry has a pull-through cache rule, or is an alias of one, becomes
// <registry>/<prefix>/<path>[:tag][@digest], Docker Hub's official images
// with "library/"; every other image is left as it is. Pods of
// excludeNamespaces are left alone. The original-images annotation is not
// written (not needed to compare throughput, and Kyverno has no cheap way to
// build it).
//
// How Kyverno reads an image (pkg/utils/image/infos.go, GetImageInfo, behind
// the `images` variable): the default registry docker.io is added, the
// reference is parsed without normalizing, so docker.io/busybox has path
// "busybox" where ParseNormalizedNamed gives "library/busybox"; a reference
// without tag or digest gets tag "latest", as policies.parseImage does. The
// rule mirrors that: library/ is added to one-component Docker Hub paths, and
// tag and digest are both kept when both are given (ImageInfo.String would
// drop the tag).
//
// A foreach per container list with a JSON patch at the element's index
// (pkg/engine/handlers/mutation/common.go, mutateElements: the element's
// context is loaded, then its preconditions checked, then the patch) is
// Kyverno's cheapest way to patch one field of a list entry; patchStrategicMerge
// would merge the whole containers list by name.
func kyvernoPolicy(cfg policies.ImageConfig, excludeNamespaces []string) (*unstructured.Unstructured, error) {
	if cfg.UnlistedRegistries == policies.UnlistedHostPrefix {
		return nil, errors.New("unlistedRegistries: hostPrefix is not mirrored by the Kyverno policy")
	}
	if len(cfg.Pushed) > 0 || len(cfg.ExcludeRegistries) > 0 {
		// Neither changes which images are rewritten while every ruled host
		// differs from the mirror; say so rather than guess.
		return nil, errors.New("pushed and excludeRegistries are not mirrored by the Kyverno policy")
	}
	// host -> "<registry>/<prefix>/", for each rule's upstream and alias.
	mirror := map[string]any{}
	var hubs []any // Docker Hub and its aliases: official images get library/
	for host, prefix := range cfg.Prefixes {
		mirror[host] = mirrorBase(cfg.Registry, prefix)
		if host == "docker.io" {
			hubs = append(hubs, host)
		}
	}
	for alias, upstream := range cfg.Aliases {
		if prefix, ok := cfg.Prefixes[upstream]; ok {
			mirror[alias] = mirrorBase(cfg.Registry, prefix)
			if upstream == "docker.io" {
				hubs = append(hubs, alias)
			}
		}
	}
	hosts := slices.Sorted(maps.Keys(mirror))
	slices.SortFunc(hubs, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })

	var foreach []any
	for _, list := range []struct{ field, images string }{
		{"containers", "containers"},
		{"initContainers", "initContainers"},
		{"ephemeralContainers", "ephemeralContainers"},
	} {
		foreach = append(foreach, map[string]any{
			// A missing list is null: `[]` keeps the foreach from failing.
			"list": "request.object.spec." + list.field + " || `[]`",
			"context": []any{
				variable("img", fmt.Sprintf(`images.%s."{{ element.name }}"`, list.images)),
				// Built before the preconditions are checked, so it must not
				// fail for a registry without a rule: `|| ''`.
				variable("mirrored", `join('', [`+
					`mirror."{{ img.registry }}" || '', `+
					`(contains(img.path, '/') || !contains(hubs, img.registry)) && img.path || join('', ['library/', img.path]), `+
					`img.tag && join('', [':', img.tag]) || '', `+
					`img.digest && join('', ['@', img.digest]) || ''])`),
			},
			"preconditions": map[string]any{"all": []any{
				map[string]any{"key": "{{ img.registry }}", "operator": "AnyIn", "value": toAny(hosts)},
				// Istio's injection template names its proxy image "auto".
				map[string]any{"key": "{{ element.image }}", "operator": "NotEquals", "value": policies.IstioAutoImage},
			}},
			"patchesJson6902": fmt.Sprintf(`[{"op": "replace", "path": "/spec/%s/{{ elementIndex }}/image", "value": "{{ mirrored }}"}]`, list.field),
		})
	}
	rule := map[string]any{
		"name": "mirror-images",
		"match": map[string]any{"any": []any{map[string]any{"resources": map[string]any{
			"kinds": []any{"Pod"}, "operations": []any{"CREATE", "UPDATE"},
		}}}},
		"context": []any{
			map[string]any{"name": "mirror", "variable": map[string]any{"value": mirror}},
			map[string]any{"name": "hubs", "variable": map[string]any{"value": hubs}},
		},
		"mutate": map[string]any{"foreach": foreach},
	}
	if len(excludeNamespaces) > 0 {
		rule["exclude"] = map[string]any{"any": []any{map[string]any{"resources": map[string]any{"namespaces": toAny(excludeNamespaces)}}}}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kyverno.io/v1",
		"kind":       "ClusterPolicy",
		"metadata": map[string]any{
			"name": kyvernoPolicyName,
			// Pods only, as image-rewrite: no rules generated for Deployments,
			// Jobs... (they would not match a Pod request anyway).
			"annotations": map[string]any{"pod-policies.kyverno.io/autogen-controllers": "none"},
		},
		"spec": map[string]any{
			"admission":     true,
			"background":    false, // no background scans
			"failurePolicy": "Fail",
			"rules":         []any{rule},
		},
	}}
	return u, nil
}

// mirrorBase is "<registry>/<prefix>/", "<registry>/" for a ROOT rule.
func mirrorBase(registry, prefix string) string {
	if prefix == "ROOT" {
		return registry + "/"
	}
	return registry + "/" + strings.TrimSuffix(prefix, "/") + "/"
}

func variable(name, jmesPath string) map[string]any {
	return map[string]any{"name": name, "variable": map[string]any{"jmesPath": jmesPath}}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// podImages are a pod's images, list by list, "<list>[<name>]=<image>".
func podImages(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		out = append(out, fmt.Sprintf("initContainers[%s]=%s", c.Name, c.Image))
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, fmt.Sprintf("containers[%s]=%s", c.Name, c.Image))
	}
	for _, c := range pod.Spec.EphemeralContainers {
		out = append(out, fmt.Sprintf("ephemeralContainers[%s]=%s", c.Name, c.Image))
	}
	return out
}

// patchedPod applies the JSON patch of an AdmissionReview answer to pod
// (the request's object, JSON) and decodes the result.
func patchedPod(pod, answer []byte) (*corev1.Pod, error) {
	var review struct {
		Response *struct {
			Allowed   bool   `json:"allowed"`
			Patch     []byte `json:"patch"` // base64 in JSON
			PatchType string `json:"patchType"`
			Result    *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(answer, &review); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	r := review.Response
	switch {
	case r == nil:
		return nil, errors.New("answer without a response")
	case !r.Allowed:
		msg := ""
		if r.Result != nil {
			msg = r.Result.Message
		}
		return nil, fmt.Errorf("denied: %s", msg)
	}
	out := pod
	if len(r.Patch) > 0 {
		if r.PatchType != "JSONPatch" {
			return nil, fmt.Errorf("patch type %q", r.PatchType)
		}
		p, err := jsonpatch.DecodePatch(r.Patch)
		if err != nil {
			return nil, fmt.Errorf("patch %s: %w", r.Patch, err)
		}
		if out, err = p.Apply(pod); err != nil {
			return nil, fmt.Errorf("applying patch %s: %w", r.Patch, err)
		}
	}
	var p corev1.Pod
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// sameRewrite checks that Kyverno's answer gives the pod exactly the images
// ours gives it, and changes nothing else in the pod; want is
// policies.MirrorImage of each original image, which ours must give too.
func sameRewrite(pod, kyvernoAnswer, oursAnswer []byte, cfg policies.ImageConfig) error {
	orig, err := patchedPod(pod, []byte(`{"response":{"allowed":true}}`))
	if err != nil {
		return err
	}
	var want []string
	for _, entry := range podImages(orig) {
		name, image, _ := strings.Cut(entry, "=")
		mirrored, _, err := policies.MirrorImage(image, cfg)
		if err != nil {
			return fmt.Errorf("MirrorImage(%q): %w", image, err)
		}
		want = append(want, name+"="+mirrored)
	}
	ours, err := patchedPod(pod, oursAnswer)
	if err != nil {
		return fmt.Errorf("platform-webhook: %w", err)
	}
	if got := podImages(ours); !slices.Equal(got, want) {
		return fmt.Errorf("platform-webhook's images %q, MirrorImage's %q", got, want)
	}
	ky, err := patchedPod(pod, kyvernoAnswer)
	if err != nil {
		return fmt.Errorf("kyverno: %w", err)
	}
	if got := podImages(ky); !slices.Equal(got, want) {
		return fmt.Errorf("kyverno's images %q, platform-webhook's %q", got, want)
	}
	// Nothing else: put the original images back and compare the pods.
	restore := func(dst, src []corev1.Container) {
		for i := range dst {
			dst[i].Image = src[i].Image
		}
	}
	restore(ky.Spec.InitContainers, orig.Spec.InitContainers)
	restore(ky.Spec.Containers, orig.Spec.Containers)
	for i := range ky.Spec.EphemeralContainers {
		ky.Spec.EphemeralContainers[i].Image = orig.Spec.EphemeralContainers[i].Image
	}
	a, _ := json.Marshal(ky)
	b, _ := json.Marshal(orig)
	if string(a) != string(b) {
		return fmt.Errorf("kyverno changed more than the images:\n%s\nwant\n%s", a, b)
	}
	return nil
}
