package policies

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// FuzzMirrorImage: image reference parsing and rewriting, on any string.
// For every image that MirrorImage rewrites:
//   - the mirrored image is a valid reference the runtime reads as an image
//     of the mirror, with the original's path, tag and digest;
//   - rewriting it again changes nothing, and image-registry admits it;
//   - two images the runtime reads as different never share a mirrored
//     image (a tenant could otherwise get another image than it asked for).
//
// An image MirrorImage leaves alone is returned as it is; one it cannot
// parse is an error, and image-registry denies it. The seed corpus is in
// testdata/fuzz/FuzzMirrorImage.
func FuzzMirrorImage(f *testing.F) {
	for _, s := range [][2]string{
		{"nginx", "nginx:1.27"},
		{"docker.io/library/nginx:latest", "index.docker.io/library/nginx"},
		{"quay.io/prometheus/node-exporter:v1.8.0", "Quay.io/prometheus/node-exporter:v1.8.0"},
		{"localhost:5000/app", "localhost_5000/app"},
		{"localhost:5000/app", "localhost/app"},
		{"registry.k8s.io/pause:3.10@sha256:0123456789012345678901234567890123456789012345678901234567890123", "registry.k8s.io/pause@sha256:0123456789012345678901234567890123456789012345678901234567890123"},
		{"[::1]:5000/app:1", "auto"},
		{imageTestRegistry + "/docker-hub/library/nginx:1.27", imageTestExcludedRegistry + "/team/app:2"},
		{"docker-hub/library/nginx", "localhost/app"},
		{"Nginx:1.27", ""},
		{"a.b:1/c/d/e:f", "a.b/c/d/e:f"},
	} {
		f.Add(s[0], s[1])
	}
	cfg := imageTestHubConfig()
	registry := NewImageRegistry(cfg)
	f.Fuzz(func(t *testing.T, a, b string) {
		ma, okA := checkMirrorImage(t, cfg, registry, a)
		mb, okB := checkMirrorImage(t, cfg, registry, b)
		if okA && okB && ma == mb && runtimeName(t, a) != runtimeName(t, b) {
			t.Fatalf("%q and %q are different images but both mirror to %q", a, b, ma)
		}
	})
}

// checkMirrorImage checks MirrorImage's properties on one image and returns
// the mirrored image when it rewrote it.
func checkMirrorImage(t *testing.T, cfg ImageConfig, registry *ImageRegistryPolicy, image string) (string, bool) {
	t.Helper()
	mirrored, changed, err := MirrorImage(image, cfg)
	if err != nil {
		if changed || mirrored != "" {
			t.Fatalf("MirrorImage(%q) = %q, %v with error %v", image, mirrored, changed, err)
		}
		if _, bad := registry.checkImage("f", "c", image); !bad {
			if _, perr := parseImage(image); perr != nil {
				t.Fatalf("image-registry admits %q, which does not parse", image)
			}
		}
		return "", false
	}
	if !changed {
		if mirrored != image {
			t.Fatalf("MirrorImage(%q) left it alone but returned %q", image, mirrored)
		}
		return "", false
	}
	ref, err := reference.ParseNormalizedNamed(mirrored)
	if err != nil {
		t.Fatalf("MirrorImage(%q) = %q, which does not parse: %v", image, mirrored, err)
	}
	if ref.String() != mirrored {
		t.Fatalf("MirrorImage(%q) = %q, which the runtime reads as %q", image, mirrored, ref.String())
	}
	if !strings.EqualFold(reference.Domain(ref), cfg.Registry) {
		t.Fatalf("MirrorImage(%q) = %q, not in the mirror %q", image, mirrored, cfg.Registry)
	}
	orig, err := parseImage(image)
	if err != nil {
		t.Fatalf("MirrorImage(%q) rewrote an image that does not parse: %v", image, err)
	}
	if !strings.HasSuffix(reference.Path(ref), "/"+reference.Path(orig)) {
		t.Fatalf("MirrorImage(%q) = %q: path %q does not end with the original's %q", image, mirrored, reference.Path(ref), reference.Path(orig))
	}
	if refTag(orig) != refTag(ref) || refDigest(orig) != refDigest(ref) {
		t.Fatalf("MirrorImage(%q) = %q: tag %q digest %q, want %q %q", image, mirrored, refTag(ref), refDigest(ref), refTag(orig), refDigest(orig))
	}
	if again, changed, err := MirrorImage(mirrored, cfg); err != nil || changed || again != mirrored {
		t.Fatalf("MirrorImage(%q) = %q, %v, %v; want it left alone", mirrored, again, changed, err)
	}
	if v, bad := registry.checkImage("f", "c", mirrored); bad {
		t.Fatalf("image-registry denies the mirrored %q: %s", mirrored, v)
	}
	return mirrored, true
}

// runtimeName is the image as the runtime pulls it: host (case-insensitive),
// path, tag and digest.
func runtimeName(t *testing.T, image string) string {
	t.Helper()
	named, err := parseImage(image)
	if err != nil {
		t.Fatalf("%q rewritten but does not parse: %v", image, err)
	}
	return imageHost(named) + "/" + reference.Path(named) + ":" + refTag(named) + "@" + refDigest(named)
}

func refTag(n reference.Named) string {
	if t, ok := n.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

func refDigest(n reference.Named) string {
	if d, ok := n.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}
