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
// It acts on a pod's CREATE and on UPDATE of the "ephemeralcontainers"
// subresource (kubectl debug). Other updates are left alone: an image changed
// on a running pod restarts its container, and a pod admitted in audit mode
// must not have its images swapped by an unrelated update of its labels.
type ImageRewritePolicy struct {
	cfg ImageConfig
}

var _ Mutator[*corev1.Pod] = (*ImageRewritePolicy)(nil)

// NewImageRewrite returns the image-rewrite mutator for cfg.
func NewImageRewrite(cfg ImageConfig) *ImageRewritePolicy {
	return &ImageRewritePolicy{cfg: cfg}
}

// Name returns "image-rewrite".
func (p *ImageRewritePolicy) Name() string { return ImageRewrite }

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
	case req.Operation != "" && req.Operation != "CREATE":
		return nil // see the type's comment; "" is a CREATE (review, tests)
	}

	var lines []string
	originals := map[string]string{}
	rewrite := func(name string, image *string) {
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
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		rewrite(c.Name, &c.Image)
	}

	// Through the ephemeralcontainers subresource the apiserver takes only
	// spec.ephemeralContainers from the object and ignores (or, for some
	// versions, rejects) changes to metadata, so the annotation is not touched
	// there: the ephemeral containers' originals go unrecorded.
	if len(originals) > 0 && !ephemeralOnly {
		recordOriginalImages(pod, originals)
	}
	return lines
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
