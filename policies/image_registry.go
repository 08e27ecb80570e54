package policies

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// ImageRegistryPolicy is the image-registry validator. It checks the final
// pod: the image of every container, init container and ephemeral container
// must be in the mirror, so it catches images other mutating webhooks (Istio's
// sidecar injector, say) added after image-rewrite ran.
//
// Allowed: images whose registry host is the mirror, images of an excluded
// registry, Istio's "auto" placeholder, and any pod in an excluded namespace.
// An image that is not a valid reference is denied as such.
//
// On an UPDATE (kubectl set image, kubectl debug) only the images the update
// brings in are judged (see pod_update.go). An image it leaves as it was
// (admitted in audit mode, or before the webhook) is an existing violation:
// reported, never denied, so a second kubectl debug works on such a pod.
type ImageRegistryPolicy struct {
	cfg ImageConfig
	// allowed is the "(allowed: ...)" part of every message, computed once.
	allowed string
}

var _ Validator[*corev1.Pod] = (*ImageRegistryPolicy)(nil)

// NewImageRegistry returns the image-registry validator for cfg.
func NewImageRegistry(cfg ImageConfig) *ImageRegistryPolicy {
	under := []string{fmt.Sprintf("%q", cfg.Registry+"/")}
	excluded := slices.Clone(cfg.ExcludeRegistries)
	slices.Sort(excluded)
	for _, r := range slices.Compact(excluded) {
		under = append(under, fmt.Sprintf("%q", r+"/"))
	}
	return &ImageRegistryPolicy{
		cfg:     cfg,
		allowed: "allowed: images under " + strings.Join(under, ", "),
	}
}

// Name returns "image-registry".
func (p *ImageRegistryPolicy) Name() string { return ImageRegistry }

// Validate returns a violation for each container whose image is not allowed,
// in the order initContainers, containers, ephemeralContainers; on an UPDATE,
// those of images the update leaves as they were are marked Existing.
func (p *ImageRegistryPolicy) Validate(req Request, pod *corev1.Pod) []Violation {
	if pod == nil || p.cfg.imageNamespaceExcluded(req.Namespace) {
		return nil
	}
	before := imagesBefore(req)
	var violations []Violation
	check := func(field, name, image string) {
		if v, bad := p.checkImage(field, name, image); bad {
			v.Existing = !before.isNew(name, image)
			violations = append(violations, v)
		}
	}
	for i, c := range pod.Spec.InitContainers {
		check(fmt.Sprintf("spec.initContainers[%d].image", i), c.Name, c.Image)
	}
	for i, c := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d].image", i), c.Name, c.Image)
	}
	for i, c := range pod.Spec.EphemeralContainers {
		check(fmt.Sprintf("spec.ephemeralContainers[%d].image", i), c.Name, c.Image)
	}
	return violations
}

func (p *ImageRegistryPolicy) checkImage(field, name, image string) (Violation, bool) {
	if image == IstioAutoImage {
		return Violation{}, false
	}
	named, err := parseImage(image)
	if err != nil {
		return Violationf(field, "container %q uses %q which is not a valid image reference (%s)", name, image, referenceProblem(image, err)), true
	}
	if p.cfg.imageLeftAlone(imageHost(named)) {
		return Violation{}, false
	}
	return Violationf(field, "container %q uses %q which is not in the mirror (%s)", name, image, p.allowed), true
}

// referenceProblem says, in the tenant's words, what is wrong with an image
// reference the parser refused, or what a valid one looks like.
func referenceProblem(image string, err error) string {
	switch {
	case image == "":
		return "the image is empty"
	case errors.Is(err, reference.ErrNameContainsUppercase) || parsesInLowerCase(image):
		return "repository names are lower case"
	case errors.Is(err, reference.ErrDigestInvalidFormat):
		return "a digest is sha256: and 64 hex digits"
	case errors.Is(err, reference.ErrNameTooLong):
		return "the name is longer than 255 characters"
	}
	return "expected [registry[:port]/]repository[:tag][@digest]"
}

func parsesInLowerCase(image string) bool {
	_, err := reference.ParseNormalizedNamed(strings.ToLower(image))
	return err == nil
}
