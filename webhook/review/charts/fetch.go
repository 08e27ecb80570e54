package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// fetcher downloads chart archives from HTTP chart repositories and OCI
// registries with Helm's own clients and credentials, and keeps them in
// the chart cache.
type fetcher struct {
	cache *cache
	// transport, when set, is every request's (tests reach loopback
	// registries through it); nil is Helm's own.
	transport *http.Transport
	settings  *cli.EnvSettings
}

// fetchError says what could not be fetched from where, without Go's
// wrapping: the reason as the server or the network gave it.
type fetchError struct {
	url    string
	reason string
}

func (e *fetchError) Error() string { return e.url + ": " + e.reason }

// archive is a chart archive fetched or read from the cache.
type archive struct {
	version string
	data    []byte
}

// httpChart fetches chart name at a version constraint from an HTTP chart
// repository: its index.yaml, the newest version matching (see
// resolveIndex), then the archive, checked against the index's digest.
// A HelmRepository's spec.insecure is for OCI registries only (plain
// HTTP); an HTTP repository's TLS comes from repositories.yaml here.
func (f *fetcher) httpChart(repoURL, name, constraint string) (*archive, error) {
	base := strings.TrimSuffix(repoURL, "/")
	entry := f.repositoryEntry(base)
	opts := []getter.Option{getter.WithURL(base), getter.WithTimeout(time.Minute),
		getter.WithInsecureSkipVerifyTLS(entry.InsecureSkipTLSVerify),
		getter.WithPassCredentialsAll(entry.PassCredentialsAll)}
	if entry.Username != "" {
		opts = append(opts, getter.WithBasicAuth(entry.Username, entry.Password))
	}
	if entry.CertFile != "" || entry.CAFile != "" {
		opts = append(opts, getter.WithTLSClientConfig(entry.CertFile, entry.KeyFile, entry.CAFile))
	}
	if f.transport != nil {
		opts = append(opts, getter.WithTransport(f.transport))
	}
	g, err := getter.NewHTTPGetter(opts...)
	if err != nil {
		return nil, err
	}

	if exact := exactVersion(constraint); exact != "" {
		if a := f.cache.chart(base, name, exact); a != nil {
			return a, nil
		}
	}
	indexURL := base + "/index.yaml"
	data, netErr := g.Get(indexURL)
	var index *repo.IndexFile
	if netErr == nil {
		f.cache.putIndex(base, data.Bytes())
		index, err = loadIndex(data.Bytes())
		if err != nil {
			return nil, &fetchError{indexURL, err.Error()}
		}
	} else if cached := f.cache.index(base); cached != nil {
		// Offline: the index of the last run resolves the constraint.
		if index, err = loadIndex(cached); err != nil {
			return nil, &fetchError{indexURL, netReason(netErr)}
		}
	} else {
		return nil, &fetchError{indexURL, netReason(netErr)}
	}
	cv, err := resolveIndex(index, name, constraint)
	if err != nil {
		return nil, &fetchError{indexURL, err.Error()}
	}
	if a := f.cache.chart(base, name, cv.Version); a != nil {
		return a, nil
	}
	if len(cv.URLs) == 0 {
		return nil, &fetchError{indexURL, fmt.Sprintf("%s %s has no URL in the index", name, cv.Version)}
	}
	chartURL, err := repo.ResolveReferenceURL(base, cv.URLs[0])
	if err != nil {
		return nil, &fetchError{indexURL, err.Error()}
	}
	body, err := g.Get(chartURL)
	if err != nil {
		return nil, &fetchError{chartURL, netReason(err)}
	}
	sum := sha256.Sum256(body.Bytes())
	digest := hex.EncodeToString(sum[:])
	if cv.Digest != "" && !strings.EqualFold(strings.TrimPrefix(cv.Digest, "sha256:"), digest) {
		return nil, &fetchError{chartURL, fmt.Sprintf("digest sha256:%s, the index says %s", digest, cv.Digest)}
	}
	a := &archive{version: cv.Version, data: body.Bytes()}
	f.cache.putChart(base, name, a, "sha256:"+digest)
	return a, nil
}

// repositoryEntry is the repositories.yaml entry (what `helm repo add`
// writes: credentials, TLS files) whose URL is the repository's, if any.
func (f *fetcher) repositoryEntry(url string) *repo.Entry {
	file, err := repo.LoadFile(f.settings.RepositoryConfig)
	if err == nil {
		for _, e := range file.Repositories {
			if strings.TrimSuffix(e.URL, "/") == url {
				return e
			}
		}
	}
	return &repo.Entry{}
}

// ociChart fetches a chart from an OCI repository (ref is
// "host/path/name", no scheme): at a fixed digest or tag (an
// OCIRepository's), or at a version constraint, listing the tags when it is
// a range (see resolveTags); then the chart layer, with Helm's registry
// client and the credentials `helm registry login` writes
// (HELM_REGISTRY_CONFIG, then Docker's config).
func (f *fetcher) ociChart(ref, tag, digest, constraint string, plainHTTP bool) (*archive, error) {
	opts := []registry.ClientOption{registry.ClientOptCredentialsFile(f.settings.RegistryConfig)}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if f.transport != nil {
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: f.transport}))
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	key := "oci://" + ref
	version := tag
	switch {
	case digest != "":
		version = digest
	case tag == "":
		if version = exactVersion(constraint); version != "" {
			break
		}
		tags, netErr := client.Tags(ref)
		if netErr == nil {
			f.cache.putTags(key, tags)
		} else if tags = f.cache.tags(key); tags == nil {
			return nil, &fetchError{key, netReason(netErr)}
		}
		if version, err = resolveTags(tags, constraint); err != nil {
			return nil, &fetchError{key, err.Error()}
		}
	}
	// A tag may move: only versions and digests are read from the cache.
	if tag == "" {
		if a := f.cache.chart(key, "", version); a != nil {
			return a, nil
		}
	}
	// OCI tags cannot hold "+": Helm pushes 1.0.0+build as 1.0.0_build.
	pinned := ref + ":" + strings.ReplaceAll(version, "+", "_")
	if digest != "" {
		pinned = ref + "@" + digest
	}
	res, err := client.Pull(pinned, registry.PullOptWithChart(true))
	if err != nil {
		return nil, &fetchError{"oci://" + pinned, netReason(err)}
	}
	a := &archive{version: version, data: res.Chart.Data}
	f.cache.putChart(key, "", a, res.Manifest.Digest)
	return a, nil
}

// loadIndex reads an index.yaml as Helm does (LoadIndexFile: entries
// sorted newest first, invalid ones dropped).
func loadIndex(data []byte) (*repo.IndexFile, error) {
	tmp, err := os.CreateTemp("", "index-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return repo.LoadIndexFile(tmp.Name())
}

// netReason is a fetch error as a reader wants it: the HTTP status or the
// network's word, without the URL said twice (Helm's getter says "failed to
// fetch URL : 404 Not Found", the OCI client `failed to perform "Op" on
// source: GET "URL": response status code 404: ...`).
func netReason(err error) string {
	msg := oneLine(err.Error())
	switch {
	case strings.Contains(msg, "credential not found"):
		return "the registry asks for credentials and Helm has none for it (helm registry login, or Docker's config)"
	case strings.HasPrefix(msg, "failed to fetch "):
		if i := strings.LastIndex(msg, " : "); i >= 0 {
			return msg[i+3:]
		}
	case strings.HasPrefix(msg, "failed to perform "):
		if i := strings.Index(msg, `": `); i >= 0 {
			if j := strings.Index(msg[i+3:], `": `); j >= 0 {
				return msg[i+3+j+3:]
			}
		}
	case strings.Contains(msg, "dial tcp"):
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			return msg[i+2:]
		}
	}
	return msg
}
