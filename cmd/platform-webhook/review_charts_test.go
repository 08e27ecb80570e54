package main

import (
	"os"

	"fmt"
	"helm.sh/helm/v4/pkg/registry"
	"path/filepath"
	"strings"
	"testing"
)

const chartsRepo = "testdata/flux-charts"

// chartServers serves testdata/flux-charts/chart-sources: web 1.0.0, 1.2.0
// and 2.0.0 over HTTP, batch 0.1.0, 0.2.0 and 1.0.0 over OCI; and writes
// the --vars file naming them.
func chartServers(t *testing.T) (*chartRepo, *ociRegistry, string) {
	t.Helper()
	var web [][]byte
	for _, v := range []string{"1.0.0", "1.2.0", "2.0.0"} {
		_, data := packageChart(t, filepath.Join(chartsRepo, "chart-sources", "web"), v)
		web = append(web, data)
	}
	httpRepo := serveChartRepo(t, web...)
	oci := serveOCI(t)
	for _, v := range []string{"0.1.0", "0.2.0", "1.0.0"} {
		ch, data := packageChart(t, filepath.Join(chartsRepo, "chart-sources", "batch"), v)
		oci.push(t, "charts", ch, data)
	}
	vars := writeFile(t, t.TempDir(), "chart-servers.yaml", fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: chart-servers
  namespace: flux-system
data:
  CHARTS_URL: %s
  OCI_HOST: %s
`, httpRepo.URL, oci.host))
	return httpRepo, oci, vars
}

func chartsArgs(vars, cache string, more ...string) []string {
	return append([]string{"--flux", filepath.Join(chartsRepo, "clusters", "ci"), "--repo-root", chartsRepo,
		"--vars", vars, "--chart-cache", cache}, more...)
}

// kubelets of a cluster without native sidecars, so job-proxy wraps Job
// pods in the mesh (see TestReviewJobProxy).
func oldKubelets(t *testing.T) string {
	return writeFile(t, t.TempDir(), "nodes.yaml", kubeletNodes("v1.28.15"))
}

const (
	localRelease = "HelmRelease flux-system/local-api-with-a-name-long-enough-to-be-shortened"
	// Flux's shortening of "team-b-local-api-with-a-name-long-enough-to-be-shortened"
	// (57 characters): its first 40, "-", 12 hex digits of its SHA-256.
	localName   = "team-b-local-api-with-a-name-long-enough-ab07b51d132e"
	localDenial = `[image-registry] spec.containers[0].image: container "api" uses "registry.example.com/team-b/api:1.0": no pull-through cache rule for "registry.example.com" (ask the platform team for a rule or an excludeRegistries entry; rules exist for "docker.io", "ghcr.io", "k8s.gcr.io", "mirror.gcr.io", "public.ecr.aws", "quay.io", "registry.k8s.io")`
)

// TestReviewFluxCharts: the HelmReleases of testdata/flux-charts rendered
// as helm-controller would, from the three kinds of source (README there),
// each rendered object one more entry after its HelmRelease and reviewed:
// the chart pod with an image without a rule is denied (exit 1), the
// chart's Job in the mesh is wrapped by job-proxy.
func TestReviewFluxCharts(t *testing.T) {
	_, _, vars := chartServers(t)
	code, stdout, stderr := runReview(t, "", chartsArgs(vars, t.TempDir(), "--context", oldKubelets(t), "-o", "json")...)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	var got []string
	byName := map[string]map[string]any{}
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s | %s %s/%s", e["source"], e["kind"], e["namespace"], e["name"]))
		byName[fmt.Sprintf("%s %s/%s", e["kind"], e["namespace"], e["name"])] = e
	}
	want := []string{
		"Kustomization flux-system/flux-system: clusters/ci/apps.yaml | Kustomization flux-system/apps",
		"Kustomization flux-system/flux-system: clusters/ci/flux-system/gotk-sync.yaml | GitRepository flux-system/flux-system",
		"Kustomization flux-system/flux-system: clusters/ci/flux-system/gotk-sync.yaml | Kustomization flux-system/flux-system",
		"Kustomization flux-system/apps: apps/widgets-crd.yaml | CustomResourceDefinition default/widgets.example.com",
		"Kustomization flux-system/apps: apps/team-a/namespace.yaml | Namespace /team-a",
		"Kustomization flux-system/apps: apps/team-a/sources.yaml | HelmRepository team-a/charts",
		"Kustomization flux-system/apps: apps/team-a/sources.yaml | HelmRepository team-a/oci-charts",
		"Kustomization flux-system/apps: apps/team-a/sources.yaml | OCIRepository team-a/batch-chart",
		"Kustomization flux-system/apps: apps/team-a/sources.yaml | HelmChart team-a/web-pinned",
		"Kustomization flux-system/apps: apps/team-a/values.yaml | ConfigMap team-a/web-values",
		"Kustomization flux-system/apps: apps/team-a/values.yaml | ConfigMap team-a/web-greeting",
		"Kustomization flux-system/apps: apps/team-a/web.yaml | HelmRelease team-a/web",
		// Helm's install order: Services before Deployments.
		"HelmRelease team-a/web: web/templates/service.yaml | Service team-a/web",
		"HelmRelease team-a/web: web/templates/deployment.yaml | Deployment team-a/web",
		"Kustomization flux-system/apps: apps/team-a/batch.yaml | HelmRelease team-a/batch",
		"HelmRelease team-a/batch: batch/templates/migrate-job.yaml | Job team-a/batch-migrate",
		"Kustomization flux-system/apps: apps/team-a/refs.yaml | HelmRelease team-a/nightly",
		"HelmRelease team-a/nightly: batch/templates/migrate-job.yaml | Job team-a/nightly-migrate",
		"Kustomization flux-system/apps: apps/team-a/refs.yaml | HelmRelease team-a/web-pinned",
		"HelmRelease team-a/web-pinned: web/templates/service.yaml | Service team-a/pinned",
		"HelmRelease team-a/web-pinned: web/templates/deployment.yaml | Deployment team-a/pinned",
		"Kustomization flux-system/apps: apps/team-b/namespace.yaml | Namespace /team-b",
		"Kustomization flux-system/apps: apps/team-b/local.yaml | " + localRelease,
		// The chart's crds/ first; its Gadget is cluster-scoped (no
		// namespace: review shows such objects in "default").
		localRelease + ": local/crds/gadgets.yaml | CustomResourceDefinition default/gadgets.example.com",
		localRelease + ": local/templates/deployment.yaml | Deployment team-b/" + localName,
		localRelease + ": local/templates/gadget.yaml | Gadget default/" + localName,
		// Rendered only because the repository's CRD is in the Capabilities.
		localRelease + ": local/templates/widget.yaml | Widget team-b/" + localName,
	}
	denied := 0
	for _, e := range entries {
		if e["allowed"] != true {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("%d entries denied, want 1 (the local chart's Deployment)", denied)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// web: 1.x is 1.2.0 of 1.0.0, 1.2.0 and 2.0.0; values from web-values,
	// greeting by targetPath, replicas from spec.values, the optional
	// Secret missing; the post-renderer's image and patch, the origin labels.
	web := byName["Deployment team-a/web"]
	if web["allowed"] != true {
		t.Errorf("web denied: %v", web["message"])
	}
	wantWeb := map[string]any{
		"metadata.labels.chart":                                  "web-1.2.0",
		"metadata.labels.helm\\.toolkit\\.fluxcd\\.io/name":      "web",
		"metadata.labels.helm\\.toolkit\\.fluxcd\\.io/namespace": "team-a",
		"metadata.annotations.post-rendered":                     "yes",
		"spec.replicas":                                          float64(3),
		"spec.template.spec.containers.0.env.0.value":            "from targetPath",
		"spec.template.metadata.annotations.platform-webhook\\.flux-infra\\.io/original-images": `{"sidecar":"ghcr.io/example/sidecar:2.0","web":"docker.io/library/nginx:1.0"}`,
	}
	for path, want := range wantWeb {
		if got := dig(web["object"], path); got != want {
			t.Errorf("web %s = %#v, want %#v", path, got, want)
		}
	}

	// batch: >=0.1.0 <1.0.0 is 0.2.0 of the OCI tags; its pre-install hook
	// Job wrapped by job-proxy in team-a (labelled for injection).
	job := byName["Job team-a/batch-migrate"]
	if got := dig(job["object"], "spec.template.spec.containers.0.command"); fmt.Sprint(got) != "[/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- /migrate --to 0.2.0]" {
		t.Errorf("batch Job command = %v, want job-proxy's wrapper around /migrate --to 0.2.0", got)
	}

	// chartRef: the OCIRepository's 0.1.x is 0.1.0; the HelmChart pins web 1.0.0.
	if got := dig(byName["Job team-a/nightly-migrate"]["object"], "spec.template.spec.containers.0.command"); fmt.Sprint(got) != "[/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- /migrate --to 0.1.0]" {
		t.Errorf("nightly Job command = %v, want the wrapper around /migrate --to 0.1.0", got)
	}
	if got := dig(byName["Deployment team-a/pinned"]["object"], "metadata.labels.chart"); got != "web-1.0.0" {
		t.Errorf("pinned chart label = %v, want web-1.0.0", got)
	}
	if got := dig(byName["Gadget default/"+localName]["object"], "metadata.namespace"); got != nil {
		t.Errorf("the cluster-scoped Gadget got namespace %v", got)
	}

	// local: valuesFiles from the repository (replicas 2), the default
	// Kubernetes version, the release namespace, denied by image-registry.
	local := byName["Deployment team-b/"+localName]
	if local["allowed"] != false || local["message"] != localDenial {
		t.Errorf("local: allowed %v, message:\n%v\nwant:\n%s", local["allowed"], local["message"], localDenial)
	}
	for path, want := range map[string]any{"spec.replicas": float64(2), "metadata.labels.kube-version": "v1.37.0"} {
		if got := dig(local["object"], path); got != want {
			t.Errorf("local %s = %#v, want %#v", path, got, want)
		}
	}
}

// dig reads a dotted path (\. for a dot in a key, numbers index lists) of
// a decoded JSON object.
func dig(v any, path string) any {
	keys := strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".")
	for _, k := range keys {
		k = strings.ReplaceAll(k, "\x00", ".")
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// TestReviewFluxChartsGitHub: -o github puts a chart object's annotation on
// its HelmRelease's file and line.
func TestReviewFluxChartsGitHub(t *testing.T) {
	_, _, vars := chartServers(t)
	code, stdout, stderr := runReview(t, "", chartsArgs(vars, t.TempDir(), "--context", oldKubelets(t), "-o", "github")...)
	want := "::error file=apps/team-b/local.yaml,line=5,title=Deployment team-b/" + localName + "::" + localDenial + "\n" +
		"review: 27 objects, 1 denied, 0 with warnings\n"
	if code != 1 || stdout != want || stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
}

// TestReviewFluxChartsCached: a second run with the chart cache of the
// first needs no network (the servers closed: the same output); without
// the cache the closed repository is exit 2 naming the HelmRelease, the URL
// and the reason.
func TestReviewFluxChartsCached(t *testing.T) {
	httpRepo, oci, vars := chartServers(t)
	cache := t.TempDir()
	args := chartsArgs(vars, cache, "--context", oldKubelets(t), "-o", "json")
	code, first, stderr := runReview(t, "", args...)
	if code != 1 || stderr != "" {
		t.Fatalf("first run: exit %d, stderr:\n%s", code, stderr)
	}
	httpRepo.Close()
	oci.Close()
	code, second, stderr := runReview(t, "", args...)
	if code != 1 || stderr != "" || second != first {
		t.Fatalf("cached run: exit %d, stderr:\n%s\nsame output: %v", code, stderr, second == first)
	}

	code, _, stderr = runReview(t, "", chartsArgs(vars, t.TempDir(), "-o", "json")...)
	want := "review: HelmRelease team-a/web: chart " + httpRepo.URL + "/index.yaml: connection refused\n"
	if code != 2 || stderr != want {
		t.Errorf("no cache, servers closed: exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
}

// TestReviewFluxNoCharts: --no-charts reviews HelmReleases as objects only:
// nothing fetched, nothing rendered.
func TestReviewFluxNoCharts(t *testing.T) {
	httpRepo, _, vars := chartServers(t)
	before := httpRepo.requests.Load()
	args := []string{"--flux", filepath.Join(chartsRepo, "clusters", "ci"), "--repo-root", chartsRepo, "--vars", vars, "--no-charts", "-o", "json"}
	code, stdout, stderr := runReview(t, "", args...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, e := range decodeEntries(t, stdout) {
		if strings.HasPrefix(e["source"].(string), "HelmRelease ") {
			t.Errorf("rendered with --no-charts: %s", e["source"])
		}
	}
	if n := httpRepo.requests.Load() - before; n != 0 {
		t.Errorf("%d requests to the chart repository with --no-charts", n)
	}
	code, _, stderr = runReview(t, "", append(args, "--chart-cache", t.TempDir())...)
	if want := "review: --chart-cache, --kube-version and --skip-chart render charts: not with --no-charts\n"; code != 2 || stderr != want {
		t.Errorf("--no-charts --chart-cache: exit %d, stderr %q, want %q", code, stderr, want)
	}
}

// miniRepo writes a Flux repository with one HelmRepository (url) and the
// infra HelmRelease flux-system/app whose spec.chart.spec is chartSpec, plus
// the chart folder charts/broken; it returns review's arguments for it.
func miniRepo(t *testing.T, url, oci, chartSpec string) []string {
	t.Helper()
	repo := t.TempDir()
	writeFile(t, repo, "clusters/ci/sync.yaml", `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  path: ./clusters/ci
  serviceAccountName: kustomize-controller
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  url: `+url+`
  type: `+oci+`
  insecure: true
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
  namespace: flux-system
spec:
  serviceAccountName: helm-controller
  targetNamespace: app
  chart:
    spec:
`+chartSpec+"\n")
	writeFile(t, repo, "charts/broken/Chart.yaml", "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
	writeFile(t, repo, "charts/broken/templates/job.yaml", `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  image: {{ required "set image" .Values.image }}
`)
	return []string{"--flux", filepath.Join(repo, "clusters", "ci"), "--repo-root", repo, "--chart-cache", t.TempDir()}
}

// TestReviewFluxChartErrors: a chart that cannot be rendered or found is
// exit 2 naming the HelmRelease, the chart and the reason: Helm's template
// error with its file and line (the column is text/template's), the HTTP
// status of a missing index, a chart the index does not have.
func TestReviewFluxChartErrors(t *testing.T) {
	httpRepo, _, _ := chartServers(t)
	for _, tc := range []struct{ name, url, chart, want string }{
		{"template error", httpRepo.URL, `      chart: ./charts/broken
      sourceRef:
        kind: GitRepository
        name: flux-system`,
			"review: HelmRelease flux-system/app: chart ./charts/broken: execution error at (broken/templates/job.yaml:6:12): set image\n"},
		{"no such chart", httpRepo.URL, `      chart: nothing
      version: 1.0.0
      sourceRef:
        kind: HelmRepository
        name: charts`,
			"review: HelmRelease flux-system/app: chart " + httpRepo.URL + "/index.yaml: no chart \"nothing\" in the repository index\n"},
		{"no index", httpRepo.URL + "/nowhere", `      chart: web
      sourceRef:
        kind: HelmRepository
        name: charts`,
			"review: HelmRelease flux-system/app: chart " + httpRepo.URL + "/nowhere/index.yaml: 404 Not Found\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runReview(t, "", miniRepo(t, tc.url, "default", tc.chart)...)
			if code != 2 || stderr != tc.want {
				t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, tc.want)
			}
		})
	}
}

// TestReviewFluxChartCredentials: an OCI registry that wants credentials is
// read with what `helm registry login` wrote (Helm's own Login, into
// HELM_REGISTRY_CONFIG); without them it is exit 2 with the registry's 401.
func TestReviewFluxChartCredentials(t *testing.T) {
	oci := serveOCIAuth(t, "ci", "s3cret")
	ch, data := packageChart(t, filepath.Join(chartsRepo, "chart-sources", "batch"), "0.1.0")
	oci.pushAs(t, "charts", ch, data, "ci", "s3cret")
	args := miniRepo(t, "oci://"+oci.host+"/charts", "oci", `      chart: batch
      version: 0.1.0
      sourceRef:
        kind: HelmRepository
        name: charts`)

	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	code, _, stderr := runReview(t, "", args...)
	want := "review: HelmRelease flux-system/app: chart oci://" + oci.host + "/charts/batch:0.1.0: the registry asks for credentials and Helm has none for it (helm registry login, or Docker's config)\n"
	if code != 2 || stderr != want {
		t.Errorf("not logged in: exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}

	login, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(os.Getenv("HELM_REGISTRY_CONFIG")))
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Login(oci.host, registry.LoginOptBasicAuth("ci", "s3cret"), registry.LoginOptPlainText(true)); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runReview(t, "", append(args, "-o", "json")...)
	if code != 0 || stderr != "" || !strings.Contains(stdout, `"source": "HelmRelease flux-system/app: batch/templates/migrate-job.yaml"`) {
		t.Errorf("logged in: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestReviewFluxKubeVersion: --kube-version is the Capabilities.KubeVersion
// the charts see; a version Helm cannot parse is exit 2.
func TestReviewFluxKubeVersion(t *testing.T) {
	_, _, vars := chartServers(t)
	code, stdout, stderr := runReview(t, "", chartsArgs(vars, t.TempDir(), "--kube-version", "v1.30.4", "-o", "json")...)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, e := range decodeEntries(t, stdout) {
		if e["kind"] == "Deployment" && e["name"] == localName {
			if got := dig(e["object"], "metadata.labels.kube-version"); got != "v1.30.4" {
				t.Errorf("kube-version label %v, want v1.30.4", got)
			}
		}
	}
	code, _, stderr = runReview(t, "", chartsArgs(vars, t.TempDir(), "--kube-version", "latest")...)
	if !strings.HasPrefix(stderr, `review: --kube-version "latest": `) || code != 2 {
		t.Errorf("--kube-version latest: exit %d, stderr %q", code, stderr)
	}
}
