package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// seedChart is one chart of the seed's ECR helm/ path, read from a Go
// module (test/tools/versions.env pins the versions).
type seedChart struct {
	module  string // versions.env key of the module version
	modPath string // the module
	dir     string // the chart folder in it
	org     string // helm/<org>/<chart> in ECR
	// version, when set, is what the project's release tooling writes into
	// Chart.yaml (the source holds a placeholder): cert-manager's release
	// tool, Istio's release-builder.
	version string
}

var seedCharts = []seedChart{
	{"CERT_MANAGER_VERSION", "github.com/cert-manager/cert-manager", "deploy/charts/cert-manager", "jetstack", "v1.21.2"},
	{"ISTIO_CHARTS_VERSION", "istio.io/istio", "manifests/charts/base", "istio", "1.30.0"},
	{"ISTIO_CHARTS_VERSION", "istio.io/istio", "manifests/charts/istio-control/istio-discovery", "istio", "1.30.0"},
	{"ISTIO_CHARTS_VERSION", "istio.io/istio", "manifests/charts/gateway", "istio", "1.30.0"},
	{"EXTERNAL_DNS_VERSION", "sigs.k8s.io/external-dns", "charts/external-dns", "external-dns", ""},
	{"PODINFO_VERSION", "github.com/stefanprodan/podinfo", "charts/podinfo", "stefanprodan", ""},
}

// seedSkipped are the seed's HelmReleases whose charts no Go module the
// project can download holds (README, Bootstrap).
var seedSkipped = []string{"flux-system/aws-load-balancer-controller", "flux-system/kiali-operator"}

// moduleDir downloads a module from the Go module proxy (or finds it in
// the module cache) and returns its folder.
func moduleDir(t *testing.T, path, version string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", path+"@"+version).Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); err != nil || jerr != nil || m.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s", path, version, err, m.Error)
	}
	return m.Dir
}

// toolVersions reads test/tools/versions.env.
func toolVersions(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "test", "tools", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, val, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			v[k] = val
		}
	}
	return v
}

// ecrRegistry is a loopback OCI registry over TLS, reached under any host
// name (the seed's ECR registry) through review's chart transport, its
// certificate verified against the test server's CA.
func ecrRegistry(t *testing.T) (*httptest.Server, *http.Transport) {
	t.Helper()
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	base := srv.Client().Transport.(*http.Transport)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
		// httptest's certificate names example.com.
		TLSClientConfig: &tls.Config{RootCAs: base.TLSClientConfig.RootCAs, ServerName: "example.com"},
	}
	return srv, tr
}

// TestReviewSeedCharts: review --flux on the seed renders its HelmReleases
// from the real charts (those a Go module holds), pulled from a loopback
// registry laid out like the seed's ECR helm/ path, and reviews every
// object they would create: every image the platform stack would run is on
// the mirror under a pull-through cache rule, nothing denied.
func TestReviewSeedCharts(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the charts' modules")
	}
	versions := toolVersions(t)
	srv, tr := ecrRegistry(t)
	oci := &ociRegistry{Server: srv, host: strings.TrimPrefix(srv.URL, "https://"), transport: tr}
	for _, c := range seedCharts {
		dir := filepath.Join(moduleDir(t, c.modPath, versions[c.module]), filepath.FromSlash(c.dir))
		ch, data := packageChartWith(t, dir, c.version, c.version)
		oci.push(t, "helm/"+c.org, ch, data)
	}
	chartTransport = tr
	t.Cleanup(func() { chartTransport = nil })
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(t.TempDir(), "config.json"))

	root := filepath.Join("..", "..")
	args := []string{"--flux", filepath.Join(root, "manifests", "clusters", "example"),
		"--vars", filepath.Join(root, "manifests", "bootstrap", "external-config-data.yaml"),
		"--chart-cache", t.TempDir(), "-o", "json"}
	for _, s := range seedSkipped {
		args = append(args, "--skip-chart", s)
	}
	code, stdout, stderr := runReview(t, "", args...)
	wantErr := "review: not followed: Kustomization team-a/team-a (source GitRepository team-a/team-a: another repository)\n" +
		"review: not followed: HelmRelease flux-system/aws-load-balancer-controller (--skip-chart)\n" +
		"review: not followed: HelmRelease flux-system/kiali-operator (--skip-chart)\n"
	if code != 0 || stderr != wantErr {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, wantErr)
	}
	rendered := map[string]int{} // objects per HelmRelease
	images := map[string]bool{}
	for _, e := range decodeEntries(t, stdout) {
		src := e["source"].(string)
		if !strings.HasPrefix(src, "HelmRelease ") {
			continue
		}
		rendered[strings.SplitN(src, ":", 2)[0]]++
		for _, img := range podImages(e["object"]) {
			images[img] = true
		}
	}
	t.Logf("rendered: %v", rendered)
	for _, hr := range []string{"flux-system/cert-manager", "flux-system/istio-base", "flux-system/istiod-1-30",
		"flux-system/istio-ingressgateway", "flux-system/external-dns", "team-a/podinfo"} {
		if rendered["HelmRelease "+hr] == 0 {
			t.Errorf("HelmRelease %s: nothing rendered", hr)
		}
	}
	var list []string
	for img := range images {
		list = append(list, img)
		// "auto": Istio's gateway injection puts the proxy image there at
		// the pod's creation (the webhook's policies leave it alone).
		if img != "auto" && !strings.HasPrefix(img, mirror+"/") {
			t.Errorf("image %s is not on the mirror", img)
		}
	}
	sort.Strings(list)
	// What the seed's values say (manifests/README.md's table), at the
	// charts' appVersions; Istio's tag is the source chart's ("latest":
	// release-builder writes the release's).
	want := []string{
		mirror + "/docker-hub/istio/pilot:latest",
		mirror + "/ghcr.io/stefanprodan/podinfo:6.9.2",
		mirror + "/quay.io/jetstack/cert-manager-cainjector:v1.21.2",
		mirror + "/quay.io/jetstack/cert-manager-controller:v1.21.2",
		mirror + "/quay.io/jetstack/cert-manager-startupapicheck:v1.21.2",
		mirror + "/quay.io/jetstack/cert-manager-webhook:v1.21.2",
		mirror + "/registry.k8s.io/external-dns/external-dns:v0.19.0",
		"auto",
	}
	if strings.Join(list, "\n") != strings.Join(want, "\n") {
		t.Errorf("images:\n%s\nwant:\n%s", strings.Join(list, "\n"), strings.Join(want, "\n"))
	}
}

// podImages are the images of a workload's pod template (or a pod), after
// the review's patch.
func podImages(obj any) []string {
	var out []string
	for _, spec := range []string{"spec.template.spec", "spec.jobTemplate.spec.template.spec", "spec"} {
		for _, list := range []string{"initContainers", "containers"} {
			cs, _ := dig(obj, spec+"."+list).([]any)
			for _, c := range cs {
				if img, ok := dig(c, "image").(string); ok {
					out = append(out, img)
				}
			}
		}
	}
	return out
}
