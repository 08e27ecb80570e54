package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// cache keeps what was fetched under a folder: chart archives by source
// URL, version and digest, and the last index or tag list of each source so
// a version range resolves offline too.
type cache struct{ dir string }

func (c *cache) folder(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:8]))
}

func safeName(s string) string {
	return strings.NewReplacer("/", "_", ":", "_", "+", "_").Replace(s)
}

// chart is the cached archive of a source's chart at one version, read
// back only if its content still has the digest of its name.
func (c *cache) chart(url, name, version string) *archive {
	matches, _ := filepath.Glob(filepath.Join(c.folder(url), safeName(name+"-"+version)+"@sha256_*.tgz"))
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if fileDigest(m) == sha256Hex(data) {
			return &archive{version: version, data: data}
		}
	}
	return nil
}

func (c *cache) putChart(url, name string, a *archive, digest string) {
	dir := c.folder(url)
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	// The archive's own digest names the file; an OCI manifest digest is
	// kept beside it for the reader.
	file := filepath.Join(dir, safeName(name+"-"+a.version)+"@sha256_"+sha256Hex(a.data)+".tgz")
	writeAtomic(file, a.data)
	writeAtomic(filepath.Join(dir, "source.yaml"), []byte("url: "+url+"\n"))
	if strings.HasPrefix(digest, "sha256:") && !strings.Contains(file, strings.TrimPrefix(digest, "sha256:")) {
		writeAtomic(strings.TrimSuffix(file, ".tgz")+".manifest-digest", []byte(digest+"\n"))
	}
}

func (c *cache) index(url string) []byte {
	data, err := os.ReadFile(filepath.Join(c.folder(url), "index.yaml"))
	if err != nil {
		return nil
	}
	return data
}

func (c *cache) putIndex(url string, data []byte) {
	dir := c.folder(url)
	if os.MkdirAll(dir, 0o755) == nil {
		writeAtomic(filepath.Join(dir, "index.yaml"), data)
	}
}

func (c *cache) tags(url string) []string {
	data, err := os.ReadFile(filepath.Join(c.folder(url), "tags.yaml"))
	if err != nil {
		return nil
	}
	var tags []string
	if yaml.Unmarshal(data, &tags) != nil {
		return nil
	}
	return tags
}

func (c *cache) putTags(url string, tags []string) {
	dir := c.folder(url)
	data, err := yaml.Marshal(tags)
	if err == nil && os.MkdirAll(dir, 0o755) == nil {
		writeAtomic(filepath.Join(dir, "tags.yaml"), data)
	}
}

// fileDigest is the hex digest a cached archive's name carries.
func fileDigest(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".tgz")
	if i := strings.LastIndex(base, "@sha256_"); i >= 0 {
		return base[i+len("@sha256_"):]
	}
	return ""
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// writeAtomic writes through a temporary file, so that a run stopped
// half-way never leaves a truncated archive under a good name.
func writeAtomic(path string, data []byte) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}
