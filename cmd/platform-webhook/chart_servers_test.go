package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// packageChart loads a chart folder, sets its version and packages it with
// Helm's own code (what `helm package --version` writes).
func packageChart(t *testing.T, dir, version string) (*chart.Chart, []byte) {
	return packageChartWith(t, dir, version, "")
}

// packageChartWith sets appVersion too (`helm package --app-version`) when
// appVersion is set.
func packageChartWith(t *testing.T, dir, version, appVersion string) (*chart.Chart, []byte) {
	t.Helper()
	c, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ch := c.(*chart.Chart)
	if version != "" {
		ch.Metadata.Version = version
	}
	if appVersion != "" {
		ch.Metadata.AppVersion = appVersion
	}
	out, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return ch, data
}

// chartRepo is an HTTP chart repository on loopback: index.yaml and the
// archives, as `helm repo index` lays them out. Requests are counted.
type chartRepo struct {
	*httptest.Server
	requests atomic.Int64
}

func serveChartRepo(t *testing.T, charts ...[]byte) *chartRepo {
	t.Helper()
	files := map[string][]byte{}
	index := repo.NewIndexFile()
	for _, data := range charts {
		c, err := loader.LoadArchive(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		md := c.(*chart.Chart).Metadata
		name := md.Name + "-" + md.Version + ".tgz"
		files["/"+name] = data
		sum := sha256.Sum256(data)
		if err := index.MustAdd(md, name, "", hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
	}
	index.SortEntries()
	idx, err := yaml.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	files["/index.yaml"] = idx
	r := &chartRepo{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		data, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(r.Close)
	return r
}

// ociRegistry is go-containerregistry's registry on loopback (plain HTTP);
// charts are pushed into it with Helm's own registry client.
type ociRegistry struct {
	*httptest.Server
	host string
	// transport reaches a TLS registry (ecrRegistry); nil is plain HTTP.
	transport *http.Transport
}

func serveOCI(t *testing.T) *ociRegistry {
	t.Helper()
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(discardLogger())))
	t.Cleanup(s.Close)
	return &ociRegistry{Server: s, host: strings.TrimPrefix(s.URL, "http://")}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// serveOCIAuth is serveOCI wanting basic credentials on every request.
func serveOCIAuth(t *testing.T, user, password string) *ociRegistry {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return &ociRegistry{Server: s, host: strings.TrimPrefix(s.URL, "http://")}
}

// push pushes a packaged chart to HOST/path:VERSION, as `helm push` does.
func (o *ociRegistry) push(t *testing.T, path string, ch *chart.Chart, data []byte) {
	o.pushAs(t, path, ch, data, "", "")
}

// pushAs pushes with basic credentials when user is set.
func (o *ociRegistry) pushAs(t *testing.T, path string, ch *chart.Chart, data []byte, user, password string) {
	t.Helper()
	opts := []registry.ClientOption{registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json"))}
	if user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(user, password))
	}
	if o.transport == nil {
		opts = append(opts, registry.ClientOptPlainHTTP())
	} else {
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: o.transport}))
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ref := o.host + "/" + path + "/" + ch.Metadata.Name + ":" + ch.Metadata.Version
	if _, err := c.Push(data, ref); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
