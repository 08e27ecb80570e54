package policies

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// ImageRewritePolicy is the image-rewrite mutator. It rewrites the image of
// every container, init container and ephemeral container of a pod to the
// ECR mirror (see MirrorImage), and records the images it replaced in the
// OriginalImagesAnnotation.
//
// Left alone: pods in an excluded namespace, images already in the mirror,
// images of an excluded registry, Istio's "auto" placeholder, and images that
// are not valid references (image-registry denies those with a clear message).
//
// It acts on a pod's CREATE, on its UPDATE, and on UPDATE of the
// "ephemeralcontainers" subresource (kubectl debug). On an update only the
// images the update brings in are rewritten (kubectl set image, an added
// debug container; see pod_update.go): an image it leaves as it was, even
// outside the mirror (a pod admitted in audit mode), is not swapped, which
// would restart the container or, for an ephemeral container, be refused.
type ImageRewritePolicy struct {
	cfg ImageConfig
}

var (
	_ Mutator[*corev1.Pod] = (*ImageRewritePolicy)(nil)
	_ Scoped               = (*ImageRewritePolicy)(nil)
)

// NewImageRewrite returns the image-rewrite mutator for cfg.
func NewImageRewrite(cfg ImageConfig) *ImageRewritePolicy {
	cfg.bases = newMirrorBases(cfg)
	return &ImageRewritePolicy{cfg: cfg}
}

// Name returns "image-rewrite".
func (p *ImageRewritePolicy) Name() string { return ImageRewrite }

// Scope is what Mutate changes: the images and the OriginalImagesAnnotation.
func (p *ImageRewritePolicy) Scope() []string {
	return []string{
		"metadata.annotations",
		"spec.initContainers[*].image",
		"spec.containers[*].image",
		"spec.ephemeralContainers[*].image",
	}
}

// subresourceEphemeralContainers is the pod subresource kubectl debug updates.
const subresourceEphemeralContainers = "ephemeralcontainers"

// Mutate rewrites pod's images in place and returns one line per rewritten
// image, `rewrite "<original>" to "<mirrored>"`, in the order initContainers,
// containers, ephemeralContainers. A second pass returns nothing.
func (p *ImageRewritePolicy) Mutate(req Request, pod *corev1.Pod) []string {
	if pod == nil || p.cfg.imageNamespaceExcluded(req.Namespace) {
		return nil
	}
	ephemeralOnly := req.SubResource == subresourceEphemeralContainers
	switch {
	case ephemeralOnly:
		// kubectl debug: UPDATE of pods/ephemeralcontainers.
	case req.SubResource != "":
		return nil // pods/binding, pods/eviction, ...: not a pod to rewrite
	case req.Operation != "" && req.Operation != "CREATE" && req.Operation != "UPDATE":
		return nil // "" is a CREATE (review, tests)
	}
	before := imagesBefore(req)

	var lines []string
	originals := map[string]string{}
	var replaced []string // containers whose image an update replaced
	rewrite := func(name string, image *string) {
		if !before.isNew(name, *image) {
			return // left as the update found it
		}
		if before != nil {
			replaced = append(replaced, name)
		}
		mirrored, changed, err := MirrorImage(*image, p.cfg)
		if err != nil || !changed {
			return
		}
		lines = append(lines, fmt.Sprintf("rewrite %q to %q", *image, mirrored))
		if _, seen := originals[name]; !seen {
			originals[name] = *image
		}
		*image = mirrored
	}

	if !ephemeralOnly {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			rewrite(c.Name, &c.Image)
		}
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			rewrite(c.Name, &c.Image)
		}
	}
	// A plain UPDATE cannot add or change ephemeral containers (only the
	// subresource can), so they are left to it.
	if before == nil || ephemeralOnly {
		for i := range pod.Spec.EphemeralContainers {
			c := &pod.Spec.EphemeralContainers[i]
			rewrite(c.Name, &c.Image)
		}
	}

	// Through the ephemeralcontainers subresource the apiserver takes only
	// spec.ephemeralContainers from the object and ignores (or, for some
	// versions, rejects) changes to metadata, so the annotation is not touched
	// there: the ephemeral containers' originals go unrecorded.
	if ephemeralOnly {
		return lines
	}
	if len(replaced) > 0 {
		forgetReplacedOriginals(pod, req, replaced, originals)
	}
	if len(originals) > 0 {
		recordOriginalImages(pod, originals)
	}
	return lines
}

// forgetReplacedOriginals drops, from the OriginalImagesAnnotation, the
// entries of containers whose image an update replaced with one it did not
// rewrite (set straight to a mirrored image): they recorded the image that
// is gone. Only entries as the old pod had them are dropped; one an earlier
// pass of this same request wrote (reinvocation) is the update's own.
// Containers rewritten now get their new original from recordOriginalImages.
func forgetReplacedOriginals(pod *corev1.Pod, req Request, replaced []string, rewritten map[string]string) {
	current := originalImages(pod)
	if len(current) == 0 {
		return
	}
	var previous map[string]string
	if old, ok := Old[*corev1.Pod](req); ok && old != nil {
		previous = originalImages(old)
	}
	changed := false
	for _, name := range replaced {
		if _, now := rewritten[name]; now {
			delete(current, name) // replaced below with the image the update brought in
			changed = true
			continue
		}
		if entry, ok := current[name]; ok && entry == previous[name] {
			delete(current, name)
			changed = true
		}
	}
	if !changed {
		return
	}
	if len(current) == 0 {
		delete(pod.Annotations, OriginalImagesAnnotation)
		return
	}
	value, _ := json.Marshal(current)
	pod.Annotations[OriginalImagesAnnotation] = string(value)
}

// originalImages decodes a pod's OriginalImagesAnnotation; nil when it is
// absent or not a JSON object of strings.
func originalImages(pod *corev1.Pod) map[string]string {
	existing, ok := pod.Annotations[OriginalImagesAnnotation]
	if !ok {
		return nil
	}
	var images map[string]string
	if err := json.Unmarshal([]byte(existing), &images); err != nil {
		return nil
	}
	return images
}

// recordOriginalImages merges originals into the pod's
// OriginalImagesAnnotation. An entry already there for a container name is
// kept: it is the older, truer original. An annotation that is not a JSON
// object of strings is replaced: the annotation is ours, and a broken one
// records nothing.
func recordOriginalImages(pod *corev1.Pod, originals map[string]string) {
	merged := map[string]string{}
	if existing, ok := pod.Annotations[OriginalImagesAnnotation]; ok {
		if err := json.Unmarshal([]byte(existing), &merged); err != nil || merged == nil {
			merged = map[string]string{}
		}
	}
	for name, image := range originals {
		if _, ok := merged[name]; !ok {
			merged[name] = image
		}
	}
	// json.Marshal writes compact JSON with the keys sorted; a map of strings
	// cannot fail to encode.
	value, _ := json.Marshal(merged)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[OriginalImagesAnnotation] = string(value)
}
