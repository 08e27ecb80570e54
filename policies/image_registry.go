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
	// allowed is the "(allowed: ...)" part of "not in the mirror", computed once.
	allowed string
	// noRule is what a "no pull-through cache rule" denial allows and advises.
	noRule string
	// prefixes lists the mirror's prefixes, for a denial of an image in the
	// mirror outside them.
	prefixes string
	// rules and served are the repository prefixes (ending in '/') the mirror
	// serves through a rule, and through a rule or a push.
	rules, served []string
}

var _ Validator[*corev1.Pod] = (*ImageRegistryPolicy)(nil)

// NewImageRegistry returns the image-registry validator for cfg.
func NewImageRegistry(cfg ImageConfig) *ImageRegistryPolicy {
	cfg.bases = newMirrorBases(cfg)
	under := []string{fmt.Sprintf("%q", cfg.Registry+"/")}
	excluded := slices.Clone(cfg.ExcludeRegistries)
	slices.Sort(excluded)
	for _, r := range slices.Compact(excluded) {
		under = append(under, fmt.Sprintf("%q", r+"/"))
	}
	rules, pushed := cfg.mirrorPrefixes()
	return &ImageRegistryPolicy{
		cfg:      cfg,
		allowed:  "allowed: images under " + strings.Join(under, ", "),
		noRule:   noRuleAdvice(cfg, pushed),
		prefixes: prefixList(rules, pushed),
		rules:    rules,
		served:   slices.Concat(rules, pushed),
	}
}

// noRuleAdvice is the parenthesis of a "no pull-through cache rule" denial:
// what to do, then the upstreams that have a rule: an audit warning longer
// than 256 characters is cut at its end, so the list goes, not the advice.
func noRuleAdvice(cfg ImageConfig, pushed []string) string {
	var b strings.Builder
	if len(pushed) > 0 {
		under := make([]string, len(pushed))
		for i, p := range pushed {
			under[i] = cfg.Registry + "/" + p
		}
		b.WriteString("push the image under " + quoteAll(under) + ", or ")
	}
	b.WriteString("ask the platform team for a rule or an excludeRegistries entry; ")
	if hosts := cfg.ruledHosts(); len(hosts) > 0 {
		b.WriteString("rules exist for " + quoteAll(hosts))
	} else {
		b.WriteString("the mirror has no rules")
	}
	return b.String()
}

// prefixList is the parenthesis of a denial of an image in the mirror outside
// its prefixes: the ones that exist.
func prefixList(rules, pushed []string) string {
	s := "rule prefixes: none"
	if len(rules) > 0 {
		s = "rule prefixes: " + quoteAll(rules)
	}
	if len(pushed) > 0 {
		s += "; pushed: " + quoteAll(pushed)
	}
	return s
}

// quoteAll quotes each of list and joins them with ", ".
func quoteAll(list []string) string {
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(quoted, ", ")
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
	rewriteFailed := p.rewriteFailedOpen(req, pod)
	var violations []Violation
	check := func(field, name, image string) {
		if v, bad := p.checkImage(field, name, image); bad {
			v.Existing = !before.isNew(name, image)
			if rewriteFailed && p.rewritable(image) {
				v.Detail += "; image-rewrite did not run on this pod (its webhook call failed, which lets the pod through unchanged): creating it again will pass"
			}
			violations = append(violations, v)
		}
	}
	eachContainer(pod, check)
	return violations
}

// rewriteFailedOpen reports whether image-rewrite, enforced for this request,
// cannot have run on the pod being created: it records every image it
// rewrites in the OriginalImagesAnnotation, and the pod has none. Its
// webhook fails open (a lost call admits the pod unchanged) and image-registry
// fails closed, so such a denial is the lost call, not the tenant's image.
func (p *ImageRegistryPolicy) rewriteFailedOpen(req Request, pod *corev1.Pod) bool {
	if req.Operation != "" && req.Operation != "CREATE" || !slices.Contains(req.EnforcedMutators, ImageRewrite) {
		return false
	}
	_, recorded := pod.Annotations[OriginalImagesAnnotation]
	return !recorded
}

// rewritable reports whether image-rewrite would rewrite image.
func (p *ImageRegistryPolicy) rewritable(image string) bool {
	_, changed, err := MirrorImage(image, p.cfg)
	return err == nil && changed
}

func (p *ImageRegistryPolicy) checkImage(field, name, image string) (Violation, bool) {
	if image == IstioAutoImage {
		return Violation{}, false
	}
	named, err := parseImage(image)
	if err != nil {
		return Violationf(field, "container %q uses %q which is not a valid image reference (%s)", name, image, referenceProblem(image, err)), true
	}
	host := imageHost(named)
	switch {
	case p.cfg.imageInMirror(host):
		return p.checkMirrored(field, name, image, named)
	case p.cfg.imageLeftAlone(host):
		return Violation{}, false
	}
	if _, _, ruled := p.cfg.rulePrefix(host); !ruled {
		switch p.cfg.unlisted() {
		case UnlistedDirect:
			return Violation{}, false
		case UnlistedDeny:
			return Violationf(field, "container %q uses %q: no pull-through cache rule for %q (%s)", name, image, host, p.noRule), true
		}
	}
	return Violationf(field, "container %q uses %q which is not in the mirror (%s)", name, image, p.allowed), true
}

// checkMirrored checks an image of the mirror by its repository path: the
// mirror serves a repository only under a rule's prefix (ECR creates it on
// the first pull) or a pushed prefix; anything else is ECR's 404
// NAME_UNKNOWN, a bare "not found" in the kubelet's events.
func (p *ImageRegistryPolicy) checkMirrored(field, name, image string, named reference.Named) (Violation, bool) {
	path := reference.Path(named)
	if p.cfg.unlisted() == UnlistedHostPrefix || p.servedPath(path) {
		return Violation{}, false
	}
	found, rest, _ := strings.Cut(path, "/")
	// <registry>/quay.io/x where quay.io's rule is "quay": give the image to use.
	if upstream := strings.ReplaceAll(found, "_", ":"); rest != "" {
		if prefix, _, ok := p.cfg.rulePrefix(upstream); ok {
			// The reference after "<registry>/<found>/", tag and digest included.
			ref := named.String()[len(reference.Domain(named))+len(found)+2:]
			if use, changed, err := MirrorImage(upstream+"/"+ref, p.cfg); err == nil && changed {
				return Violationf(field, "container %q uses %q which is not under a pull-through cache rule of the mirror (use %q: the rule for %q has the prefix %q)",
					name, image, use, upstream, prefix), true
			}
		}
	}
	return Violationf(field, "container %q uses %q whose prefix %q is neither a pull-through cache rule nor a pushed prefix of the mirror (%s)",
		name, image, found, p.prefixes), true
}

// servedPath reports whether the mirror serves the repository path: it sits
// under a rule's prefix or a pushed prefix.
func (p *ImageRegistryPolicy) servedPath(path string) bool {
	for _, prefix := range p.served {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// Warn warns about each image the request brings in that is pinned by digest
// and pulled through a rule: a first pull of an uncached digest through the
// pull-through cache can miss (aws/containers-roadmap#2837, open), and the
// kubelet pulls a tag@digest reference by digest only.
func (p *ImageRegistryPolicy) Warn(req Request, pod *corev1.Pod) []string {
	if pod == nil || p.cfg.imageNamespaceExcluded(req.Namespace) {
		return nil
	}
	before := imagesBefore(req)
	var warnings []string
	eachContainer(pod, func(field, name, image string) {
		if !before.isNew(name, image) {
			return
		}
		if w, ok := p.digestWarning(field, image); ok {
			warnings = append(warnings, w)
		}
	})
	return warnings
}

func (p *ImageRegistryPolicy) digestWarning(field, image string) (string, bool) {
	named, err := parseImage(image)
	if err != nil {
		return "", false
	}
	digested, ok := named.(reference.Digested)
	if !ok {
		return "", false
	}
	host := imageHost(named)
	if p.cfg.imageInMirror(host) {
		if !p.underRule(reference.Path(named)) {
			return "", false // pushed: the digest is in the mirror already
		}
	} else if _, _, ok := p.cfg.rulePrefix(host); !ok || p.cfg.imageLeftAlone(host) {
		return "", false
	}
	how := "pull it once by a tag that points at it"
	if tagged, ok := named.(reference.Tagged); ok {
		how = fmt.Sprintf("pull %q once", reference.TrimNamed(named).String()+":"+tagged.Tag())
	}
	return fmt.Sprintf("%s: pinned by digest (%s): a first pull by digest through the pull-through cache can miss; %s to warm the cache",
		field, shortDigest(digested), how), true
}

// underRule reports whether a repository path of the mirror sits under a
// rule's prefix.
func (p *ImageRegistryPolicy) underRule(path string) bool {
	for _, prefix := range p.rules {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// shortDigest is "sha256:" and the first 12 hex digits, enough to recognize it.
func shortDigest(d reference.Digested) string {
	s := d.Digest().String()
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// eachContainer calls fn for every container, init container and ephemeral
// container of pod, with the field path of its image.
func eachContainer(pod *corev1.Pod, fn func(field, name, image string)) {
	for i, c := range pod.Spec.InitContainers {
		fn(fmt.Sprintf("spec.initContainers[%d].image", i), c.Name, c.Image)
	}
	for i, c := range pod.Spec.Containers {
		fn(fmt.Sprintf("spec.containers[%d].image", i), c.Name, c.Image)
	}
	for i, c := range pod.Spec.EphemeralContainers {
		fn(fmt.Sprintf("spec.ephemeralContainers[%d].image", i), c.Name, c.Image)
	}
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
