package policies

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMirrorBasesSkipOnlyWhatParses: MirrorImage with the policies' mirror
// bases (no second parse for a known prefix) answers as MirrorImage without
// them (every mirrored image parsed again), on every image of the fuzz seed
// corpus and of the tests' own lists, long names included, under configs
// with valid, nested, ROOT, upper-case and odd prefixes and registries.
func TestMirrorBasesSkipOnlyWhatParses(t *testing.T) {
	images := []string{"nginx", "nginx:1.27", "Nginx", "quay.io/prometheus/node-exporter:v1.8.0", "localhost:5000/app",
		"registry.k8s.io/pause:3.10@sha256:0123456789012345678901234567890123456789012345678901234567890123",
		"mirror.gcr.io/nginx:1", "ghcr.io/a/b/c:TAG", "docker.io/x@sha256:0123456789012345678901234567890123456789012345678901234567890123"}
	for _, n := range []int{150, 190, 200, 204, 205, 206, 210, 250} {
		images = append(images, "quay.io/"+strings.Repeat("a", n)+":1", "docker.io/"+strings.Repeat("b/", n/2)+"c")
	}
	files, err := filepath.Glob("testdata/fuzz/FuzzMirrorImage/*")
	if err != nil || len(files) < 50 {
		t.Fatalf("fuzz seed corpus: %d files, %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(line, "string("); ok {
				if u, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
					images = append(images, u)
				}
			}
		}
	}

	configs := map[string]ImageConfig{"host prefix": imageTestConfig(), "hub": imageTestHubConfig()}
	add := func(name string, change func(*ImageConfig)) {
		c := imageTestHubConfig()
		change(&c)
		configs[name] = c
	}
	add("rules", func(c *ImageConfig) {
		c.Prefixes = map[string]string{"docker.io": "docker-hub", "quay.io": "mirror/quay", "ghcr.io": "Upper", "registry.k8s.io": "a..b", "localhost:5000": "-x"}
		c.Aliases = map[string]string{"mirror.gcr.io": "docker.io"}
		c.UnlistedRegistries = UnlistedDeny
	})
	add("root", func(c *ImageConfig) { c.Prefixes = map[string]string{"docker.io": ecrRootPrefix, "quay.io": "q"} })
	add("dotless registry", func(c *ImageConfig) { c.Registry = "mirror" })
	add("registry with a path", func(c *ImageConfig) { c.Registry = imageTestRegistry + "/mirror" })
	add("docker hub registry", func(c *ImageConfig) { c.Registry = "docker.io" })
	add("registry with a port", func(c *ImageConfig) { c.Registry = "mirror.example.com:5000" })

	skipped := 0
	for name, cfg := range configs {
		fast := cfg
		fast.bases = newMirrorBases(cfg)
		for _, image := range images {
			m1, c1, e1 := MirrorImage(image, cfg)
			m2, c2, e2 := MirrorImage(image, fast)
			if m1 != m2 || c1 != c2 || (e1 == nil) != (e2 == nil) {
				t.Errorf("%s: %q: parsed %q, %v, %v; with mirror bases %q, %v, %v", name, image, m1, c1, e1, m2, c2, e2)
			}
			if named, err := parseImage(image); err == nil && c2 {
				prefix, _ := mirrorPrefix(imageHost(named), cfg)
				if fast.bases.valid(cfg.Registry, prefix, upstreamPath(named, imageHost(named), cfg)) {
					skipped++
				}
			}
		}
	}
	t.Logf("%d images, %d configs, %d second parses left out", len(images), len(configs), skipped)
	if skipped < 100 {
		t.Errorf("only %d second parses left out: the test reaches too little", skipped)
	}
}
