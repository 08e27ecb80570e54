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
// host), a digest is kept, and a tag with a digest keeps both. The mirrored
// image is then
//
//	<registry>/<prefix-or-upstream-host>/<path>[:tag][@digest]
//
// where the prefix is ImageConfig.Prefixes[host] (an ECR pull-through cache
// rule's repository prefix, such as "docker-hub" for docker.io) or, without
// an entry, the upstream host itself.
//
// Hosts with a port: ECR repository names may not contain ':', so
// "localhost:5000" becomes the repository prefix "localhost_5000". DNS host
// names can never contain '_', so the encoded form cannot collide with the
// prefix of a real host. IPv6 hosts ("[::1]:5000") cannot be encoded and are
// not mirrored.

// MirrorImage returns the image of the mirror that replaces image, and
// whether it differs from image. Images already in the mirror, Istio's "auto"
// placeholder and images of an excluded registry are returned as they are,
// with changed false. An image that is not a valid reference returns an error
// (meant for logs, not for users).
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

	prefix, ok := cfg.Prefixes[host]
	if !ok {
		if strings.HasPrefix(host, "[") {
			return "", false, fmt.Errorf("image %q: an IPv6 registry host cannot be mirrored", image)
		}
		// See the port encoding above: "localhost:5000" -> "localhost_5000".
		prefix = strings.ReplaceAll(host, ":", "_")
	}

	var b strings.Builder
	b.WriteString(cfg.Registry)
	b.WriteString("/")
	b.WriteString(prefix)
	b.WriteString("/")
	b.WriteString(reference.Path(named))
	if tagged, ok := named.(reference.Tagged); ok {
		b.WriteString(":")
		b.WriteString(tagged.Tag())
	}
	if digested, ok := named.(reference.Digested); ok {
		b.WriteString("@")
		b.WriteString(digested.Digest().String())
	}
	mirrored = b.String()

	// The result must itself be a valid, canonical reference in the mirror:
	// ParseNamed refuses anything the runtime would read differently (a
	// registry without a dot would be taken for a Docker Hub namespace, say).
	ref, err := reference.ParseNamed(mirrored)
	if err != nil {
		return "", false, fmt.Errorf("image %q: mirrored image %q is not a valid reference: %w", image, mirrored, err)
	}
	if !strings.EqualFold(reference.Domain(ref), cfg.Registry) {
		return "", false, fmt.Errorf("image %q: mirrored image %q is not in registry %q", image, mirrored, cfg.Registry)
	}
	return mirrored, true, nil
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
