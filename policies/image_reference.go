package policies

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Image references and where they live in the mirror.
//
// An image is parsed and normalized exactly as the container runtime does
// (github.com/distribution/reference, the library containerd and Docker use):
// "nginx" is "docker.io/library/nginx:latest", "index.docker.io/x" is
// "docker.io/x" (the library itself canonicalizes the legacy Docker Index
// host), a digest is kept, and a tag with a digest keeps both. When its
// upstream host, or the upstream it is an alias of, has a pull-through cache
// rule (ImageConfig.Prefixes), the mirrored image is
//
//	<registry>/<rule prefix>/<path>[:tag][@digest]
//
// which is the repository ECR creates on the first pull through that rule.
// An upstream without a rule is left as it is (unlistedRegistries deny, for
// image-registry to refuse, or direct), or, with hostPrefix, gets the host
// itself as prefix (the behaviour before rules were configured).
//
// Hosts with a port (hostPrefix only): ECR repository names may not contain
// ':', so "localhost:5000" becomes the repository prefix "localhost_5000". DNS
// host names can never contain '_', so the encoded form cannot collide with
// the prefix of a real host. IPv6 hosts ("[::1]:5000") cannot be encoded and
// are not mirrored.

// MirrorImage returns the image of the mirror that replaces image, and
// whether it differs from image. Images already in the mirror, Istio's "auto"
// placeholder, images of an excluded registry and images of an upstream
// without a rule (unless unlistedRegistries is hostPrefix) are returned as
// they are, with changed false. An image that is not a valid reference
// returns an error (meant for logs, not for users).
func MirrorImage(image string, cfg ImageConfig) (mirrored string, changed bool, err error) {
	if image == IstioAutoImage {
		return image, false, nil
	}
	named, err := parseImage(image)
	if err != nil {
		return "", false, err
	}
	host := imageHost(named)
	if cfg.imageLeftAlone(host) {
		return image, false, nil
	}
	prefix, ok := mirrorPrefix(host, cfg)
	if !ok {
		if cfg.unlisted() == UnlistedHostPrefix && strings.HasPrefix(host, "[") {
			return "", false, fmt.Errorf("image %q: an IPv6 registry host cannot be mirrored", image)
		}
		return image, false, nil
	}
	path := upstreamPath(named, host, cfg)
	mirrored, err = mirrorReference(named, prefix, path, cfg.Registry, cfg.bases.valid(cfg.Registry, prefix, path))
	if err != nil {
		return "", false, fmt.Errorf("image %q: %w", image, err)
	}
	return mirrored, true, nil
}

// mirrorPrefix returns the repository prefix of host's images in the mirror
// ("" for a ROOT rule), and false when they are not rewritten.
func mirrorPrefix(host string, cfg ImageConfig) (string, bool) {
	if prefix, _, ok := cfg.rulePrefix(host); ok {
		return prefix, true
	}
	if cfg.unlisted() != UnlistedHostPrefix || strings.HasPrefix(host, "[") {
		return "", false
	}
	// See the port encoding above: "localhost:5000" -> "localhost_5000".
	return strings.ReplaceAll(host, ":", "_"), true
}

// upstreamPath is the repository path of named on its upstream. An alias of
// Docker Hub (mirror.gcr.io) names official images without "library/"; the
// Docker Hub rule serves them only with it (the ECR user guide: "for Docker
// Hub official images, the /library prefix must be included"), as the
// runtime's normalization of docker.io adds it.
func upstreamPath(named reference.Named, host string, cfg ImageConfig) string {
	path := reference.Path(named)
	if host != dockerHubHost && cfg.Aliases[host] == dockerHubHost && !strings.Contains(path, "/") {
		return "library/" + path
	}
	return path
}

// dockerHubHost is Docker Hub as image references normalize it.
const dockerHubHost = "docker.io"

// mirrorReference is <registry>/<prefix>/<path>[:tag][@digest] for named;
// known says it parses (mirrorBases), else it is parsed to check.
func mirrorReference(named reference.Named, prefix, path, registry string, known bool) (string, error) {
	var b strings.Builder
	b.WriteString(registry)
	b.WriteString("/")
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteString("/")
	}
	b.WriteString(path)
	if tagged, ok := named.(reference.Tagged); ok {
		b.WriteString(":")
		b.WriteString(tagged.Tag())
	}
	if digested, ok := named.(reference.Digested); ok {
		b.WriteString("@")
		b.WriteString(digested.Digest().String())
	}
	mirrored := b.String()
	if known {
		return mirrored, nil
	}

	// The result must itself be a valid, canonical reference in the mirror:
	// ParseNamed refuses anything the runtime would read differently (a
	// registry without a dot would be taken for a Docker Hub namespace, say).
	ref, err := reference.ParseNamed(mirrored)
	if err != nil {
		return "", fmt.Errorf("mirrored image %q is not a valid reference: %w", mirrored, err)
	}
	if !strings.EqualFold(reference.Domain(ref), registry) {
		return "", fmt.Errorf("mirrored image %q is not in registry %q", mirrored, registry)
	}
	return mirrored, nil
}

// parseImage parses image as the container runtime does and adds the
// default tag "latest" when it has neither tag nor digest.
func parseImage(image string) (reference.Named, error) {
	if image == "" {
		return nil, errors.New("empty image")
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, fmt.Errorf("parse image %q: %w", image, err)
	}
	return reference.TagNameOnly(named), nil
}

// imageHost returns the registry host of a normalized reference, in lower
// case (host names are case-insensitive; ECR repository names are lower case).
func imageHost(named reference.Named) string {
	return strings.ToLower(reference.Domain(named))
}

// imageLeftAlone reports whether images of host are neither rewritten nor
// denied: they are in the mirror, or their registry is excluded.
func (c ImageConfig) imageLeftAlone(host string) bool {
	if c.imageInMirror(host) {
		return true
	}
	for _, r := range c.ExcludeRegistries {
		if strings.EqualFold(r, host) {
			return true
		}
	}
	return false
}

// imageInMirror reports whether host is the mirror registry.
func (c ImageConfig) imageInMirror(host string) bool {
	return c.Registry != "" && strings.EqualFold(c.Registry, host)
}

// imageNamespaceExcluded reports whether pods of namespace ns are left as
// they are by image-rewrite and image-registry.
func (c ImageConfig) imageNamespaceExcluded(ns string) bool {
	return slices.Contains(c.ExcludeNamespaces, ns)
}
