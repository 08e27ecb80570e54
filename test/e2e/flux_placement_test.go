package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// flux-placement through the real Flux CRDs: what kubectl prints when a
// tenant or the platform team applies HelmReleases and Kustomizations.

const fluxDenied = `admission webhook "flux-placement.flux-infra.io" denied the request: `

// helmRelease is a HelmRelease of a chart from HelmRepository "charts";
// spec holds extra spec lines (indented by four spaces), meta extra metadata
// lines (indented by two).
func helmRelease(ns, name, sourceNamespace, meta, spec string) string {
	source := ""
	if sourceNamespace != "" {
		source = "\n        namespace: " + sourceNamespace
	}
	return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %s
  namespace: %s
%sspec:
  interval: 10m
%s  chart:
    spec:
      chart: %s
      sourceRef:
        kind: HelmRepository
        name: charts%s
`, name, ns, meta, spec, name, source)
}

// kustomization is a Kustomization of GitRepository "apps"; spec holds extra
// spec lines (indented by two spaces).
func kustomization(ns, name, spec string) string {
	return fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: %s
spec:
  interval: 10m
  prune: true
  path: ./deploy
  sourceRef:
    kind: GitRepository
    name: apps
%s`, name, ns, spec)
}

// kubectlFails runs kubectl, expects it to fail and returns its stderr.
func kubectlFails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := cluster.Kubectl(stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want a denial\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errOut)
	}
	return errOut
}

func TestFluxPlacementTenant(t *testing.T) {
	const ns = "e2e-flux-tenant"
	namespace(t, ns, nil)

	t.Run("release copied from an infra one is denied, every reason in one message", func(t *testing.T) {
		got := kubectlFails(t, helmRelease(ns, "redis", "flux-system", "",
			"  targetNamespace: kube-system\n  serviceAccountName: helm-controller\n"), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.chart.spec.sourceRef.namespace: must be unset or "e2e-flux-tenant", the namespace of the release (found "flux-system"); ` +
			`[flux-placement] spec.serviceAccountName: must be a service account of namespace "e2e-flux-tenant", not a Flux controller's (found "helm-controller"); ` +
			`[flux-placement] spec.targetNamespace: must be unset or "e2e-flux-tenant", the namespace of the release (found "kube-system")` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("release storing its state elsewhere is denied", func(t *testing.T) {
		got := kubectlFails(t, helmRelease(ns, "cache", "", "",
			"  storageNamespace: flux-system\n  serviceAccountName: deployer\n"), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.storageNamespace: must be unset or "e2e-flux-tenant", the namespace of the release (found "flux-system")` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("kustomization for another cluster without an account is denied", func(t *testing.T) {
		got := kubectlFails(t, kustomization(ns, "remote", "  kubeConfig:\n    secretRef:\n      name: prod-kubeconfig\n"), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.kubeConfig: must be unset (a kustomization in "e2e-flux-tenant" applies to this cluster only); ` +
			`[flux-placement] spec.serviceAccountName: must be set to a service account of namespace "e2e-flux-tenant" (found none)` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("kustomization of the platform's repository is denied", func(t *testing.T) {
		manifest := strings.Replace(kustomization(ns, "platform", "  serviceAccountName: deployer\n"),
			"    name: apps\n", "    name: apps\n    namespace: flux-system\n", 1)
		got := kubectlFails(t, manifest, "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.sourceRef.namespace: must be unset or "e2e-flux-tenant", the namespace of the kustomization (found "flux-system")` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("compliant tenant objects are admitted", func(t *testing.T) {
		out, errOut := kubectl(t, helmRelease(ns, "podinfo", ns, "",
			"  targetNamespace: e2e-flux-tenant\n  serviceAccountName: deployer\n"), "apply", "-f", "-")
		if out != "helmrelease.helm.toolkit.fluxcd.io/podinfo created\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
		out, errOut = kubectl(t, kustomization(ns, "apps", "  serviceAccountName: deployer\n"), "apply", "-f", "-")
		if out != "kustomization.kustomize.toolkit.fluxcd.io/apps created\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
}

func TestFluxPlacementInfra(t *testing.T) {
	const ns = "flux-system" // the infra namespace of manifests/webhook/config.yaml
	namespace(t, ns, nil)

	t.Run("infra release as helm-controller with a target namespace is admitted", func(t *testing.T) {
		out, errOut := kubectl(t, helmRelease(ns, "cert-manager", "", "",
			"  targetNamespace: cert-manager\n  serviceAccountName: helm-controller\n"), "apply", "-f", "-")
		if out != "helmrelease.helm.toolkit.fluxcd.io/cert-manager created\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
	t.Run("infra kustomization as kustomize-controller is admitted", func(t *testing.T) {
		out, errOut := kubectl(t, kustomization(ns, "infrastructure", "  serviceAccountName: kustomize-controller\n"), "apply", "-f", "-")
		if out != "kustomization.kustomize.toolkit.fluxcd.io/infrastructure created\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
	t.Run("infra release as default without a target namespace is denied", func(t *testing.T) {
		got := kubectlFails(t, helmRelease(ns, "aws-load-balancer-controller", "", "", "  serviceAccountName: default\n"), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.serviceAccountName: must be "helm-controller" for releases in flux-system (found "default"); ` +
			`[flux-placement] spec.targetNamespace: must be set for releases in flux-system, to the namespace the release installs into (found none)` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("infra kustomization without an account is denied", func(t *testing.T) {
		got := kubectlFails(t, kustomization(ns, "tenants", ""), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": ` + fluxDenied +
			`[flux-placement] spec.serviceAccountName: must be "kustomize-controller" for kustomizations in flux-system (found none)` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestFluxPlacementAuditThenEnforce: objects a tenant created while its
// namespace was in audit stay manageable once it is enforced: they can be
// fixed by an update, their status written, and deleted, finalizer included.
func TestFluxPlacementAuditThenEnforce(t *testing.T) {
	const ns = "e2e-flux-audit"
	namespace(t, ns, map[string]string{"flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, ns)

	// legacy breaks two rules; it is fixed below.
	legacy := helmRelease(ns, "legacy", "", "", "  targetNamespace: kube-system\n")
	out, errOut := kubectl(t, legacy, "apply", "-f", "-")
	wantWarnings := `Warning: [flux-placement] would deny: spec.serviceAccountName: must be set to a service account of namespace "e2e-flux-audit" (found none)
Warning: [flux-placement] would deny: spec.targetNamespace: must be unset or "e2e-flux-audit", the namespace of the release (found "kube-system")
`
	if out != "helmrelease.helm.toolkit.fluxcd.io/legacy created\n" || errOut != wantWarnings {
		t.Fatalf("audit apply:\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantWarnings)
	}
	// doomed carries helm-controller's finalizer, as a reconciled release
	// does (the apiserver frowns on its name, Flux's own).
	doomed := helmRelease(ns, "doomed", "", "  finalizers: [finalizers.fluxcd.io]\n", "  serviceAccountName: helm-controller\n")
	out, errOut = kubectl(t, doomed, "apply", "-f", "-")
	wantWarnings = `Warning: metadata.finalizers: "finalizers.fluxcd.io": prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers
Warning: [flux-placement] would deny: spec.serviceAccountName: must be a service account of namespace "e2e-flux-audit", not a Flux controller's (found "helm-controller")
`
	if out != "helmrelease.helm.toolkit.fluxcd.io/doomed created\n" || errOut != wantWarnings {
		t.Fatalf("audit apply doomed:\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantWarnings)
	}
	out, _ = kubectl(t, kustomization(ns, "orphan", ""), "apply", "-f", "-")
	if out != "kustomization.kustomize.toolkit.fluxcd.io/orphan created\n" {
		t.Fatalf("audit apply orphan: stdout %q", out)
	}

	kubectl(t, "", "label", "namespace", ns, "flux-infra.io/admission-mode=enforce", "--overwrite")
	waitForFluxEnforce(t, ns)

	t.Run("kubectl label and annotate are admitted, the existing violations a warning", func(t *testing.T) {
		wantErr := `Warning: [flux-placement] existing violation: spec.serviceAccountName: must be set to a service account of namespace "e2e-flux-audit" (found none)
Warning: [flux-placement] existing violation: spec.targetNamespace: must be unset or "e2e-flux-audit", the namespace of the release (found "kube-system")
`
		out, errOut := kubectl(t, "", "label", "helmrelease", "legacy", "-n", ns, "team=shop")
		if out != "helmrelease.helm.toolkit.fluxcd.io/legacy labeled\n" || errOut != wantErr {
			t.Errorf("kubectl label: stdout %q\nstderr:\n%s\nwant:\n%s", out, errOut, wantErr)
		}
		// What `flux reconcile helmrelease legacy` writes.
		out, errOut = kubectl(t, "", "annotate", "helmrelease", "legacy", "-n", ns, "--overwrite", "reconcile.fluxcd.io/requestedAt=2026-12-01T10:00:00Z")
		if out != "helmrelease.helm.toolkit.fluxcd.io/legacy annotated\n" || errOut != wantErr {
			t.Errorf("kubectl annotate: stdout %q\nstderr:\n%s\nwant:\n%s", out, errOut, wantErr)
		}
	})
	t.Run("an update that still breaks a rule is denied", func(t *testing.T) {
		got := kubectlFails(t, strings.Replace(legacy, "interval: 10m", "interval: 5m", 1), "replace", "-f", "-")
		want := `Error from server (Forbidden): error when replacing "STDIN": ` + fluxDenied +
			`[flux-placement] spec.serviceAccountName: must be set to a service account of namespace "e2e-flux-audit" (found none); ` +
			`[flux-placement] spec.targetNamespace: must be unset or "e2e-flux-audit", the namespace of the release (found "kube-system")` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("an update that fixes the release is admitted", func(t *testing.T) {
		fixed := helmRelease(ns, "legacy", "", "", "  serviceAccountName: deployer\n")
		out, errOut := kubectl(t, fixed, "apply", "-f", "-")
		if out != "helmrelease.helm.toolkit.fluxcd.io/legacy configured\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
	t.Run("status updates are not checked", func(t *testing.T) {
		out, errOut := kubectl(t, "", "patch", "helmrelease", "doomed", "-n", ns, "--subresource=status",
			"--type=merge", "-p", `{"status":{"observedGeneration":1}}`)
		if out != "helmrelease.helm.toolkit.fluxcd.io/doomed patched\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
	t.Run("a breaking kustomization can be deleted", func(t *testing.T) {
		out, errOut := kubectl(t, "", "delete", "kustomization", "orphan", "-n", ns)
		if out != `kustomization.kustomize.toolkit.fluxcd.io "orphan" deleted from e2e-flux-audit namespace`+"\n" || errOut != "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})
	t.Run("a breaking release can be deleted, its finalizer removed", func(t *testing.T) {
		out, errOut := kubectl(t, "", "delete", "helmrelease", "doomed", "-n", ns, "--wait=false")
		if out != `helmrelease.helm.toolkit.fluxcd.io "doomed" deleted from e2e-flux-audit namespace`+"\n" || errOut != "" {
			t.Errorf("delete: stdout %q stderr %q", out, errOut)
		}
		// What helm-controller does once it has uninstalled the release: an
		// UPDATE of the object, which still breaks the rules.
		out, errOut = kubectl(t, "", "patch", "helmrelease", "doomed", "-n", ns, "--type=json",
			"-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
		if out != "helmrelease.helm.toolkit.fluxcd.io/doomed patched\n" || errOut != "" {
			t.Errorf("finalizer removal: stdout %q stderr %q", out, errOut)
		}
		_, errOut, err := cluster.Kubectl("", "get", "helmrelease", "doomed", "-n", ns)
		if want := `Error from server (NotFound): helmreleases.helm.toolkit.fluxcd.io "doomed" not found` + "\n"; err == nil || errOut != want {
			t.Errorf("after the finalizer: err %v stderr %q, want %q", err, errOut, want)
		}
	})
}

// waitForFluxEnforce waits until the webhook's namespace cache sees ns
// enforced: a server-side dry run of a breaking release is denied.
func waitForFluxEnforce(t *testing.T, ns string) {
	t.Helper()
	probe := helmRelease(ns, "probe", "", "", "")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, errOut, err := cluster.Kubectl(probe, "apply", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(errOut, fluxDenied) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the webhook never saw namespace %s enforced", ns)
}
