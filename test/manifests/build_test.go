package manifests

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Every kustomization under manifests/ builds with kustomize's Go API (the
// library kustomize-controller uses), on its own.
func TestEveryKustomizationBuilds(t *testing.T) {
	dirs := kustomizationDirs(t)
	if len(dirs) < 10 {
		t.Fatalf("found only %d kustomizations under manifests/: %v", len(dirs), dirs)
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			objs, err := kustomizeBuild(filesys.MakeFsOnDisk(), filepath.Join(manifestsDir(), dir))
			if err != nil {
				t.Fatalf("kustomize build manifests/%s: %v", dir, err)
			}
			if len(objs) == 0 {
				t.Errorf("manifests/%s builds no objects", dir)
			}
		})
	}
}

// Every kustomization is applied by Flux: it is the path of a Flux
// Kustomization of the tree, or a folder another kustomization includes. A
// folder nothing applies is dead, or a forgotten Kustomization.
func TestEveryKustomizationIsApplied(t *testing.T) {
	tr := fluxTree(t, configData(t))
	reached := map[string]string{
		// Optional: needs the prometheus-operator CRDs, which the seed does
		// not install (README "Monitoring"); TestServerSideDryRun dry-runs it.
		"monitoring": "optional",
	}
	for _, a := range tr.Applied {
		reached[strings.TrimPrefix(a.Path, "manifests/")] = "Flux Kustomization " + a.Name()
	}
	for _, dir := range kustomizationDirs(t) {
		raw, err := os.ReadFile(filepath.Join(manifestsDir(), dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Resources []string `json:"resources"`
		}
		if err := yaml.Unmarshal(raw, &k); err != nil {
			t.Fatalf("manifests/%s/kustomization.yaml: %v", dir, err)
		}
		for _, r := range k.Resources {
			p := path.Clean(path.Join(dir, r))
			if info, err := os.Stat(filepath.Join(manifestsDir(), p)); err == nil && info.IsDir() {
				reached[p] = "manifests/" + dir
			}
		}
	}
	for _, dir := range kustomizationDirs(t) {
		if _, ok := reached[dir]; !ok {
			t.Errorf("manifests/%s is applied by no Flux Kustomization and included by no kustomization", dir)
		}
	}
}

// The Flux Kustomizations of the platform: where they live, who they run as,
// what they read, and the order the issue asks for.
func TestFluxKustomizations(t *testing.T) {
	tr := fluxTree(t, configData(t))
	ks := tr.Kustomizations()

	want := []string{
		"aws-load-balancer-controller", "cert-manager", "cert-manager-issuers", "external-dns",
		"flux-system", "infra-sources", "istio-base", "istio-ingress", "istiod", "kiali",
		"kiali-operator", "platform-webhook", "tenants",
	}
	var got []string
	for name := range ks {
		got = append(got, name)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("Flux Kustomizations applied from the flux-system repository:\n got %v\nwant %v", got, want)
	}

	for name, k := range ks {
		if k.GetNamespace() != fluxNamespace {
			t.Errorf("Kustomization %s is in namespace %q, want %q", name, k.GetNamespace(), fluxNamespace)
		}
		if sa, _, _ := unstructured.NestedString(k.Object, "spec", "serviceAccountName"); sa != "kustomize-controller" {
			t.Errorf("Kustomization %s: spec.serviceAccountName is %q, want kustomize-controller", name, sa)
		}
		if prune, _, _ := unstructured.NestedBool(k.Object, "spec", "prune"); !prune {
			t.Errorf("Kustomization %s: spec.prune is not true", name)
		}
		if name == rootKustomization {
			continue // written by flux bootstrap: no substitution (see the patches' comments)
		}
		refs, _, _ := unstructured.NestedSlice(k.Object, "spec", "postBuild", "substituteFrom")
		if len(refs) != 1 {
			t.Errorf("Kustomization %s: spec.postBuild.substituteFrom is %v, want the ConfigMap %s", name, refs, configDataName)
		}
		for _, dep := range dependsOn(k) {
			if ks[dep] == nil {
				t.Errorf("Kustomization %s depends on %q, which is not applied", name, dep)
			}
		}
	}

	order := [][2]string{
		{"cert-manager", "aws-load-balancer-controller"},
		{"cert-manager", "platform-webhook"},
		{"cert-manager", "cert-manager-issuers"},
		{"istio-base", "istiod"},
		{"istiod", "istio-ingress"},
		{"aws-load-balancer-controller", "istio-ingress"},
		{"cert-manager-issuers", "istio-ingress"},
		{"kiali-operator", "kiali"},
		{"istiod", "kiali"},
		{"istio-base", "external-dns"},
		{"infra-sources", "cert-manager"},
		{"infra-sources", "istio-base"},
		{"platform-webhook", "tenants"},
		{"istio-ingress", "tenants"},
	}
	for _, o := range order {
		if !dependsOnTransitively(ks, o[1], o[0]) {
			t.Errorf("Kustomization %s does not depend (directly or not) on %s", o[1], o[0])
		}
	}
	for name := range ks {
		if dependsOnTransitively(ks, name, name) {
			t.Errorf("Kustomization %s depends on itself (a dependsOn cycle never becomes ready)", name)
		}
	}

	var external []string
	for _, k := range tr.External {
		external = append(external, describe(k))
	}
	if want := []string{"Kustomization team-a/team-a"}; !slices.Equal(external, want) {
		t.Errorf("Kustomizations reading another repository: got %v, want %v", external, want)
	}
}

func dependsOn(k *unstructured.Unstructured) []string {
	deps, _, _ := unstructured.NestedSlice(k.Object, "spec", "dependsOn")
	var out []string
	for _, d := range deps {
		m, _ := d.(map[string]any)
		name, _ := m["name"].(string)
		out = append(out, name)
	}
	return out
}

// dependsOnTransitively reports whether a depends on b through dependsOn.
func dependsOnTransitively(ks map[string]*unstructured.Unstructured, a, b string) bool {
	seen := map[string]bool{}
	var walk func(n string) bool
	walk = func(n string) bool {
		if seen[n] || ks[n] == nil {
			return false
		}
		seen[n] = true
		for _, d := range dependsOn(ks[n]) {
			if d == b || walk(d) {
				return true
			}
		}
		return false
	}
	return walk(a)
}

// The variables: every ${NAME} in the seed is a key of external-config-data
// (strict substitution fails otherwise), and every key is used somewhere.
func TestVariables(t *testing.T) {
	vars := configData(t)
	want := []string{
		"ACME_EMAIL", "AWS_ACCOUNT_ID", "AWS_LOAD_BALANCER_CONTROLLER_ROLE_ARN", "AWS_REGION",
		"CERT_MANAGER_ROLE_ARN", "CLUSTER_NAME", "DOMAIN", "ECR_CREDENTIALS_SYNC_ROLE_ARN",
		"EXTERNAL_DNS_ROLE_ARN", "VPC_ID",
	}
	var keys []string
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("%s keys:\n got %v\nwant %v", configDataFile, keys, want)
	}
	tr := fluxTree(t, vars)
	for _, k := range keys {
		if tr.Used[k] == 0 {
			t.Errorf("%s: %s is used by no manifest", configDataFile, k)
		}
	}
	// Nothing is left unsubstituted in what Flux applies with postBuild.
	for _, a := range tr.Applied {
		if a.Kustomization.GetName() == rootKustomization {
			continue
		}
		for _, o := range a.Objects {
			raw, _ := yaml.Marshal(o.Object)
			if strings.Contains(string(raw), "${") {
				t.Errorf("%s (Kustomization %s) still holds ${ after substitution", describe(o), a.Name())
			}
		}
	}
	// Flux does not substitute in flux-system (no postBuild): nothing there
	// may need it.
	for _, a := range tr.Applied {
		if a.Kustomization.GetName() != rootKustomization {
			continue
		}
		for _, o := range a.Objects {
			raw, _ := yaml.Marshal(o.Object)
			if strings.Contains(string(raw), "${") {
				t.Errorf("%s is applied by %s, which substitutes nothing, yet holds ${", describe(o), a.Name())
			}
		}
	}
}

// The multi-tenancy lockdown patches of clusters/example/flux-system, built
// against a stand-in for the gotk-components.yaml that bootstrap writes: each
// controller keeps the args Flux gave it and gains exactly its lockdown
// flags; the flux-system Kustomization runs as kustomize-controller.
func TestLockdownPatches(t *testing.T) {
	build := func(t *testing.T, components []byte) ([]*unstructured.Unstructured, error) {
		t.Helper()
		fs := filesys.MakeFsInMemory()
		src := filepath.Join(manifestsDir(), "clusters", "example", "flux-system")
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if rel == "gotk-components.yaml" {
				data = components
			}
			return fs.WriteFile(filepath.Join("/flux-system", rel), data)
		})
		if err != nil {
			t.Fatal(err)
		}
		return kustomizeBuild(fs, "/flux-system")
	}
	components, err := os.ReadFile(filepath.Join("testdata", "gotk-components.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	objs, err := build(t, components)
	if err != nil {
		t.Fatalf("build flux-system with the stand-in components: %v", err)
	}
	events := "--events-addr=http://notification-controller.flux-system.svc.cluster.local./"
	want := map[string][]string{
		"source-controller": {events, "--watch-all-namespaces=true", "--storage-path=/data"},
		"kustomize-controller": {events, "--watch-all-namespaces=true", "--enable-leader-election",
			"--no-cross-namespace-refs=true", "--no-remote-bases=true", "--default-service-account=default"},
		"helm-controller": {events, "--watch-all-namespaces=true", "--enable-leader-election",
			"--no-cross-namespace-refs=true", "--default-service-account=default"},
		"notification-controller": {"--watch-all-namespaces=true", "--enable-leader-election",
			"--no-cross-namespace-refs=true"},
	}
	found := map[string]bool{}
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment":
			found[o.GetName()] = true
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c, _ := containers[0].(map[string]any)
			args, _, _ := unstructured.NestedStringSlice(c, "args")
			if !slices.Equal(args, want[o.GetName()]) {
				t.Errorf("Deployment %s args:\n got %q\nwant %q", o.GetName(), args, want[o.GetName()])
			}
		case o.GetKind() == "ServiceAccount" && o.GetName() == "source-controller":
			if got := o.GetAnnotations()["eks.amazonaws.com/role-arn"]; !strings.HasPrefix(got, "arn:aws:iam::") {
				t.Errorf("ServiceAccount source-controller: IRSA role annotation is %q", got)
			}
			found["sa"] = true
		case isFluxKustomization(o) && o.GetName() == rootKustomization:
			if sa, _, _ := unstructured.NestedString(o.Object, "spec", "serviceAccountName"); sa != "kustomize-controller" {
				t.Errorf("Kustomization flux-system: spec.serviceAccountName is %q, want kustomize-controller", sa)
			}
			found["ks"] = true
		}
	}
	if len(found) != len(want)+2 {
		t.Errorf("patched objects found: %v", found)
	}

	// A controller whose first container is not "manager" (a layout change in
	// a later Flux) fails the build instead of patching the wrong container.
	sidecarFirst := strings.Replace(string(components), "      containers:\n        - name: manager\n          image: ghcr.io/fluxcd/helm-controller",
		"      containers:\n        - name: proxy\n          image: example/proxy\n        - name: manager\n          image: ghcr.io/fluxcd/helm-controller", 1)
	if sidecarFirst == string(components) {
		t.Fatal("test setup: helm-controller's container not found in the stand-in")
	}
	if _, err := build(t, []byte(sidecarFirst)); err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("build with helm-controller's container 0 not named manager: err = %v, want a failed JSON patch test", err)
	}
}
