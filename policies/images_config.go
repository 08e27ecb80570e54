package policies

// ImageConfig configures image-rewrite and image-registry (they share the
// mirror and the exclusions).
type ImageConfig struct {
	// Registry is the ECR mirror host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com.
	Registry string `json:"registry"`
	// Prefixes are the mirror's pull-through cache rules: an upstream registry
	// host (docker.io, quay.io, ...) -> the rule's ecrRepositoryPrefix. Only
	// these upstreams are rewritten (see UnlistedRegistries for the others).
	Prefixes map[string]string `json:"prefixes,omitempty"`
	// Aliases are other names of an upstream that has a rule: host -> that
	// upstream (mirror.gcr.io -> docker.io, k8s.gcr.io -> registry.k8s.io).
	Aliases map[string]string `json:"aliases,omitempty"`
	// Pushed are repository prefixes in the mirror filled by pushes (CI):
	// images under them are accepted as they are.
	Pushed []string `json:"pushed,omitempty"`
	// UnlistedRegistries says what happens to an image whose upstream has no
	// rule: deny (the default), direct or hostPrefix.
	UnlistedRegistries UnlistedRegistries `json:"unlistedRegistries,omitempty"`
	// ExcludeNamespaces are namespaces whose pods are left as they are.
	ExcludeNamespaces []string `json:"excludeNamespaces,omitempty"`
	// ExcludeRegistries are registries pulled from as they are (another ECR
	// account, say): their images are neither rewritten nor denied.
	ExcludeRegistries []string `json:"excludeRegistries,omitempty"`

	// bases, set by the policies from the fields above, spares MirrorImage
	// a second parse (image_mirror_base.go); nil: it always parses.
	bases mirrorBases
}

// UnlistedRegistries is what image-rewrite and image-registry do with an
// image whose upstream registry has no pull-through cache rule.
type UnlistedRegistries string

const (
	// UnlistedDeny leaves the image for image-registry, which denies it: the
	// mirror could not serve it (ECR answers 404 NAME_UNKNOWN).
	UnlistedDeny UnlistedRegistries = "deny"
	// UnlistedDirect leaves the image as it is, pulled from its upstream;
	// image-registry accepts it.
	UnlistedDirect UnlistedRegistries = "direct"
	// UnlistedHostPrefix rewrites it to <registry>/<host>/<path> (the
	// behaviour before rules were part of the config): the mirror is filled
	// under host-named prefixes by other means (rules named after the host,
	// or pushes), and any <registry>/<host>/ image is accepted.
	UnlistedHostPrefix UnlistedRegistries = "hostPrefix"
)

// Default sets UnlistedRegistries to deny when unset.
func (c *ImageConfig) Default() {
	if c.UnlistedRegistries == "" {
		c.UnlistedRegistries = UnlistedDeny
	}
}
