package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixture repository (testdata/flux-repo/README.md): clusters/x is what
// a cluster's Flux applies, clusters/y has a variable defined nowhere.
const fluxRepo = "testdata/flux-repo"

// fluxArgs are review's arguments for following clusters/<cluster>.
func fluxArgs(cluster string, more ...string) []string {
	return append([]string{"--flux", filepath.Join(fluxRepo, "clusters", cluster), "--repo-root", fluxRepo}, more...)
}

// notFollowed: the tenant's own repository, and its HelmRelease whose
// HelmRepository is in that repository (reviewed as an object only).
const notFollowed = "review: not followed: Kustomization tenant-a/tenant-a-apps (source GitRepository tenant-a/tenant-a: another repository)\n" +
	"review: not followed: HelmRelease tenant-a/redis (chart source HelmRepository tenant-a/bitnami is not in the repository)\n"

// TestReviewFluxGitHub: review --flux follows the repository as
// kustomize-controller would and prints GitHub annotations on the files the
// denied objects come from: the tenant HelmRelease running as helm-controller
// and tenant-b's VirtualService on tenant-a's host of the repository's own
// Gateway (whose hosts come from post-build substitution).
func TestReviewFluxGitHub(t *testing.T) {
	code, stdout, stderr := runReview(t, "", fluxArgs("x", "--vars", filepath.Join(fluxRepo, "vars-secret.yaml"), "-o", "github")...)
	want := `::error file=tenants/tenant-a/helmrelease.yaml,title=HelmRelease tenant-a/redis::[flux-placement] spec.serviceAccountName: must be a service account of namespace "tenant-a", not a Flux controller's (found "helm-controller")
::error file=tenants/tenant-b/virtualservice.yaml,title=VirtualService tenant-b/shop::[gateway-hosts] spec.hosts[0]: host "a.example.com" is not authorized for namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: "b.example.com")
review: 17 objects, 2 denied, 0 with warnings
`
	if code != 1 || stdout != want || stderr != notFollowed {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", code, stdout, want, stderr, notFollowed)
	}
}

// TestReviewFluxJSON: every object Flux would apply, in the order the
// Kustomizations are followed, each with its source; what kustomize-controller
// does to them: targetNamespace, images, Flux's substitution rules.
func TestReviewFluxJSON(t *testing.T) {
	code, stdout, stderr := runReview(t, "", fluxArgs("x", "--vars", filepath.Join(fluxRepo, "vars-secret.yaml"), "-o", "json")...)
	if code != 1 || stderr != notFollowed {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	var got []string
	for _, e := range entries {
		got = append(got, e["source"].(string)+" | "+e["kind"].(string)+" "+e["namespace"].(string)+"/"+e["name"].(string))
	}
	want := []string{
		"Kustomization flux-system/flux-system: clusters/x/cluster-vars.yaml | ConfigMap flux-system/cluster-vars",
		"Kustomization flux-system/flux-system: clusters/x/flux-system/gotk-sync.yaml | GitRepository flux-system/flux-system",
		"Kustomization flux-system/flux-system: clusters/x/flux-system/gotk-sync.yaml | Kustomization flux-system/flux-system",
		"Kustomization flux-system/flux-system: clusters/x/infrastructure.yaml | Kustomization flux-system/infra",
		"Kustomization flux-system/flux-system: clusters/x/tenants.yaml | Kustomization flux-system/tenants",
		"Kustomization flux-system/flux-system: clusters/x/tenants.yaml | Kustomization flux-system/apps",
		"Kustomization flux-system/infra: infra/namespace.yaml | Namespace /istio-ingress",
		"Kustomization flux-system/infra: infra/gateway.yaml | Gateway istio-ingress/public",
		"Kustomization flux-system/infra: infra/settings.yaml | ConfigMap istio-ingress/settings",
		"Kustomization flux-system/infra: infra/settings.yaml | ConfigMap istio-ingress/verbatim",
		"Kustomization flux-system/tenants: tenants/tenant-a/namespace.yaml | Namespace /tenant-a",
		"Kustomization flux-system/tenants: tenants/tenant-a/sync.yaml | GitRepository tenant-a/tenant-a",
		"Kustomization flux-system/tenants: tenants/tenant-a/sync.yaml | Kustomization tenant-a/tenant-a-apps",
		"Kustomization flux-system/tenants: tenants/tenant-a/helmrelease.yaml | HelmRelease tenant-a/redis",
		"Kustomization flux-system/tenants: tenants/tenant-b/namespace.yaml | Namespace /tenant-b",
		"Kustomization flux-system/tenants: tenants/tenant-b/virtualservice.yaml | VirtualService tenant-b/shop",
		"Kustomization flux-system/apps: apps/web.yaml | Deployment tenant-a/x-web",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The bootstrap Kustomization as its kustomization.yaml patches it.
	if sa := field(t, entries[2]["object"], "spec", "serviceAccountName"); sa != "kustomize-controller" {
		t.Errorf("flux-system serviceAccountName %v, want the patched kustomize-controller", sa)
	}
	// ${VAR} from substituteFrom (ConfigMap of the repository, Secret of
	// --vars), ${VAR:=default}, $${VAR} literal; the opt-out left alone.
	wantData := map[string]any{"cluster": "x", "region": "us-east-1", "token": "5f4dcc3b", "literal": "${NOT_A_VAR}"}
	if data := field(t, entries[8]["object"], "data"); !reflect.DeepEqual(data, wantData) {
		t.Errorf("settings data %v, want %v", data, wantData)
	}
	if data := field(t, entries[9]["object"], "data"); !reflect.DeepEqual(data, map[string]any{"script": "echo ${HOME}"}) {
		t.Errorf("verbatim data %v, want it as written", data)
	}
	// namePrefix, commonMetadata, patches; spec.images sets the tag,
	// image-rewrite then mirrors it.
	if replicas := field(t, entries[16]["object"], "spec", "replicas"); replicas != float64(2) {
		t.Errorf("web replicas %v, want 2 from spec.patches", replicas)
	}
	if labels := field(t, entries[16]["object"], "metadata", "labels"); !reflect.DeepEqual(labels, map[string]any{"cluster": "x"}) {
		t.Errorf("web labels %v, want commonMetadata's", labels)
	}
	if image := field(t, entries[16]["object"], "spec", "template", "spec", "containers", 0, "image"); image != mirror+"/docker-hub/library/nginx:1.27" {
		t.Errorf("web image %v", image)
	}
	// kustomize's origin annotations are how sources are known: never shown.
	if strings.Contains(stdout, "config.kubernetes.io/origin") {
		t.Error("the origin annotation leaked into the output")
	}
}

// TestReviewFluxErrors: what stops review --flux is exit 2 with one line
// naming what to fix.
func TestReviewFluxErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a variable defined nowhere", fluxArgs("y"),
			`review: Kustomization flux-system/broken: infra/settings.yaml: variable "TOKEN_HASH" is not defined (in postBuild.substitute, a postBuild.substituteFrom ConfigMap or Secret, or --vars)` + "\n"},
		{"a substituteFrom Secret the repository lacks", fluxArgs("x"),
			`review: Kustomization flux-system/infra: postBuild.substituteFrom: Secret "cluster-secrets" is neither in the repository nor given with --vars (mark it optional: true if the cluster may lack it)` + "\n"},
		{"--vars that is not a ConfigMap or Secret", fluxArgs("x", "--vars", filepath.Join(fluxRepo, "plain", "configmap.yaml"), "--vars", filepath.Join(fluxRepo, "apps", "web.yaml")),
			"review: --vars " + filepath.Join(fluxRepo, "apps", "web.yaml") + ": " + filepath.Join(fluxRepo, "apps", "web.yaml") + ":1 is a Deployment, want a ConfigMap or a Secret\n"},
		{"--flux outside --repo-root", []string{"--flux", "testdata", "--repo-root", fluxRepo},
			"review: --flux testdata is not inside the repository " + mustAbs(t, fluxRepo) + " (--repo-root)\n"},
		{"--flux not a folder", []string{"--flux", filepath.Join(fluxRepo, "README.md"), "--repo-root", fluxRepo},
			"review: --flux " + filepath.Join(fluxRepo, "README.md") + ": not a folder\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runReview(t, "", tc.args...)
			if code != 2 || stdout != "" || stderr != tc.want {
				t.Errorf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, tc.want)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReviewFluxSeed: the project's own seed, followed from the folder its
// Flux applies (the repository root is git's), with the cluster's
// external-config-data: every Kustomization followed, every variable
// substituted, nothing denied; the tenant's own repository is named as not
// followed. The charts are not rendered here (--no-charts): TestReviewSeedCharts
// renders them.
func TestReviewFluxSeed(t *testing.T) {
	root := filepath.Join("..", "..")
	code, stdout, stderr := runReview(t, "", "--flux", filepath.Join(root, "manifests", "clusters", "example"),
		"--vars", filepath.Join(root, "manifests", "bootstrap", "external-config-data.yaml"), "--no-charts", "-o", "json")
	if want := "review: not followed: Kustomization team-a/team-a (source GitRepository team-a/team-a: another repository)\n"; code != 0 || stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	followed := map[string]bool{} // the Kustomizations objects came from
	var found []string            // the flux-system Kustomizations in them
	for _, e := range decodeEntries(t, stdout) {
		if strings.Contains(toJSON(t, e["object"]), "${") {
			t.Errorf("%s %s/%s keeps a ${...}: not substituted", e["kind"], e["namespace"], e["name"])
		}
		followed[strings.SplitN(e["source"].(string), ":", 2)[0]] = true
		if e["kind"] == "Kustomization" && e["namespace"] == "flux-system" {
			found = append(found, "Kustomization flux-system/"+e["name"].(string))
		}
	}
	for _, k := range found {
		if !followed[k] {
			t.Errorf("%s was not followed", k)
		}
	}
	if len(followed) < 10 {
		t.Errorf("only %d Kustomizations followed: %v", len(followed), followed)
	}
}

// TestReviewKustomizeFolder: a PATH folder holding a kustomization.yaml is
// built as kubectl kustomize builds it; the seed's sources build and the
// ${...} of its CronJob image is then not an image (it is Flux that
// substitutes, hence --flux). A build error is exit 2 naming the folder.
func TestReviewKustomizeFolder(t *testing.T) {
	dir := filepath.Join(fluxRepo, "tenants")
	code, stdout, stderr := runReview(t, "", "-o", "json", dir)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	if len(entries) != 6 || entries[0]["source"] != dir+" (kustomize build)" {
		t.Errorf("%d entries, first source %v; want 6 from %s (kustomize build)", len(entries), entries[0]["source"], dir)
	}

	broken := t.TempDir()
	writeFile(t, broken, "kustomization.yaml", "resources:\n  - missing.yaml\n")
	code, _, stderr = runReview(t, "", broken)
	if !strings.HasPrefix(stderr, "review: "+broken+": kustomize build failed: ") || strings.Count(stderr, "\n") != 1 || code != 2 {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line naming the folder", code, stderr)
	}
}

// TestReviewPlainFolderSkips: in a folder read file by file, a kustomize
// patch (a JSON 6902 list) is skipped and named, never an error.
func TestReviewPlainFolderSkips(t *testing.T) {
	dir := filepath.Join(fluxRepo, "plain")
	code, stdout, stderr := runReview(t, "", "-o", "json", dir)
	want := "review: skipped " + filepath.Join(dir, "patches", "replicas.yaml") + ": not a Kubernetes manifest (its first document has no kind)\n"
	if code != 0 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	if entries := decodeEntries(t, stdout); len(entries) != 1 || entries[0]["source"] != filepath.Join(dir, "configmap.yaml")+":1" {
		t.Errorf("entries %v", entries)
	}
}
