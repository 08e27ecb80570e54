package policies

// ImageConfig configures image-rewrite and image-registry (they share the
// mirror and the exclusions).
type ImageConfig struct {
	// Registry is the ECR mirror host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com.
	Registry string `json:"registry"`
	// Prefixes maps an upstream registry host (docker.io, quay.io, ...) to the
	// repository prefix of its ECR pull-through cache rule. Without an entry
	// the prefix is the upstream host itself.
	Prefixes map[string]string `json:"prefixes,omitempty"`
	// ExcludeNamespaces are namespaces whose pods are left as they are.
	ExcludeNamespaces []string `json:"excludeNamespaces,omitempty"`
	// ExcludeRegistries are registries pulled from as they are (another ECR
	// account, say): their images are neither rewritten nor denied.
	ExcludeRegistries []string `json:"excludeRegistries,omitempty"`
}
