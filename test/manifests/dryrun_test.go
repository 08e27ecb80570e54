package manifests

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// noCRD are the kinds of the seed whose CRDs the end-to-end harness does not
// install, with the reason. Their objects are not dry-run (the apiserver
// would only answer "no matches for kind"); the test fails if one appears
// that is not listed here, and if a listed one is no longer in the seed or
// becomes known to the apiserver.
var noCRD = map[schema.GroupKind]string{
	{Group: "kiali.io", Kind: "Kiali"}: "the Kiali CRD ships only in the kiali-operator Helm chart (crds/), " +
		"which no Go module carries, so test/tools/controlplane.sh cannot install it; " +
		"its spec is an open object anyway (x-kubernetes-preserve-unknown-fields)",
}

// bootstrapped is what exists before Flux applies the seed: the namespace
// flux bootstrap creates, and the ConfigMap Terraform writes into it.
const bootstrapNamespace = `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"flux-system"}}`

// Every object of the seed, substituted with the sample variables, is
// accepted by a real kube-apiserver with the real Flux, Istio and cert-manager
// CRDs in a server-side dry run: schema-valid, not just parseable.
// Namespaces (and the bootstrap prerequisites) are created for real first,
// as Flux applies them first.
func TestServerSideDryRun(t *testing.T) {
	if os.Getenv("PLATFORM_WEBHOOK_E2E") != "1" {
		t.Skip("end-to-end: needs the control plane; run `make test-e2e` (PLATFORM_WEBHOOK_E2E=1)")
	}
	vars := configData(t)
	tr := fluxTree(t, vars)

	c, err := harness.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	apply := func(t *testing.T, manifest string, args ...string) string {
		t.Helper()
		out, errOut, err := c.Kubectl(manifest, append([]string{"apply", "-f", "-"}, args...)...)
		if err != nil || errOut != "" {
			t.Errorf("kubectl apply %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	// Before Flux: flux-system and external-config-data.
	apply(t, bootstrapNamespace)
	cm, err := os.ReadFile(manifestsDir() + "/" + configDataFile)
	if err != nil {
		t.Fatal(err)
	}
	if out := apply(t, string(cm)); out != "configmap/external-config-data created\n" {
		t.Errorf("external-config-data: kubectl printed %q", out)
	}

	var namespaces, others []*unstructured.Unstructured
	for _, o := range tr.Objects() {
		if o.GetAPIVersion() == "v1" && o.GetKind() == "Namespace" {
			namespaces = append(namespaces, o)
		} else {
			others = append(others, o)
		}
	}
	for _, ns := range namespaces {
		raw, _ := json.Marshal(ns.Object)
		if out := apply(t, string(raw)); out != "namespace/"+ns.GetName()+" created\n" {
			t.Errorf("%s: kubectl printed %q", describe(ns), out)
		}
	}

	mapper := c.Client.RESTMapper()
	unknown := map[schema.GroupKind][]string{}
	dryRun := 0
	for _, o := range others {
		gvk := o.GroupVersionKind()
		_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		_, listed := noCRD[gvk.GroupKind()]
		switch {
		case meta.IsNoMatchError(err) && listed:
			unknown[gvk.GroupKind()] = append(unknown[gvk.GroupKind()], describe(o))
			continue
		case meta.IsNoMatchError(err):
			t.Errorf("%s (%s): the apiserver has no such kind; install its CRD in the harness or list it in noCRD with the reason", describe(o), gvk)
			continue
		case err != nil:
			t.Fatalf("%s: %v", describe(o), err)
		case listed:
			t.Errorf("%s: kind %s is listed in noCRD but the apiserver knows it: remove it from the list", describe(o), gvk.GroupKind())
		}
		if gvk.Kind == "CustomResourceDefinition" && (o.GetName() == "reports.openreports.io" || o.GetName() == "clusterreports.openreports.io") {
			// The reporter's OpenReports CRDs: the harness installed them from
			// the same module files (TestShippedCRDs checks they are equal),
			// so there is nothing to create.
			continue
		}
		t.Run(o.GetKind()+"/"+objectName(o), func(t *testing.T) {
			raw, _ := json.Marshal(o.Object)
			out := apply(t, string(raw), "--dry-run=server")
			resource := strings.ToLower(gvk.Kind)
			if gvk.Group != "" {
				resource += "." + gvk.Group
			}
			if want := resource + "/" + o.GetName() + " created (server dry run)\n"; out != want {
				t.Errorf("kubectl printed %q, want %q", out, want)
			}
		})
		dryRun++
	}

	var kinds []string
	for gk, objs := range unknown {
		kinds = append(kinds, gk.String())
		t.Logf("not dry-run, no CRD in the harness: %s (%s)", strings.Join(objs, ", "), noCRD[gk])
	}
	sort.Strings(kinds)
	for gk := range noCRD {
		if unknown[gk] == nil {
			t.Errorf("noCRD lists %s, which is not in the seed (or the apiserver knows it now): remove it", gk)
		}
	}
	t.Logf("dry-run %d objects, created %d namespaces; skipped kinds without CRD: %v", dryRun, len(namespaces), kinds)
	if dryRun < 50 {
		t.Errorf("dry-run only %d objects", dryRun)
	}

	// The optional monitoring folder (not in the Flux tree), built as
	// kubectl kustomize builds it, against the prometheus-operator CRDs.
	t.Run("monitoring", func(t *testing.T) {
		built, errOut, err := c.Kubectl("", "kustomize", manifestsDir()+"/monitoring")
		if err != nil {
			t.Fatalf("kubectl kustomize manifests/monitoring: %v\n%s", err, errOut)
		}
		out := apply(t, built, "--dry-run=server")
		want := "configmap/platform-webhook-dashboard created (server dry run)\n" +
			"service/platform-webhook-metrics created (server dry run)\n" +
			"service/platform-webhook-reporter-metrics created (server dry run)\n" +
			"prometheusrule.monitoring.coreos.com/platform-webhook created (server dry run)\n" +
			"servicemonitor.monitoring.coreos.com/platform-webhook created (server dry run)\n"
		if out != want {
			t.Errorf("kubectl printed\n%s\nwant\n%s", out, want)
		}
	})
}
