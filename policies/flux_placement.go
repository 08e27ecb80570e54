package policies

import (
	"fmt"
	"slices"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
)

// FluxPlacementPolicy is the flux-placement validator, for HelmReleases and
// Kustomizations. It turns the multi-tenancy rules Flux's own lockdown
// (--no-cross-namespace-refs, --default-service-account) leaves to "a
// validation webhook" into denials a tenant can act on. It reads the objects
// only; it never changes them.
//
// In the infra namespace (flux-system), cluster-wide releases run as the Flux
// controllers:
//   - a HelmRelease names the namespace it installs into (spec.targetNamespace)
//     and runs as helm-controller (spec.serviceAccountName);
//   - a Kustomization runs as kustomize-controller.
//
// Everywhere else, a tenant's release stays in its namespace:
//   - spec.serviceAccountName is set, and is not a Flux controller's account;
//   - spec.targetNamespace and spec.storageNamespace, where set, are the
//     object's own namespace;
//   - spec.kubeConfig is unset (it would apply to another cluster);
//   - source references (spec.chart.spec.sourceRef, spec.chartRef,
//     spec.sourceRef) are in the object's namespace, or in a namespace of
//     allowedSourceNamespaces.
//
// Updates: an object being deleted, and violations a metadata-only update
// leaves as they were, are the webhook's generic update rules
// (webhook/update.go): its controllers can always remove their finalizers.
//
// Violations are sorted by field path.
type FluxPlacementPolicy struct {
	cfg FluxPlacementConfig
	// controllers are the Flux controllers' accounts a tenant may not name.
	controllers map[string]bool
	// sharedSources is the sorted, quoted list of allowedSourceNamespaces.
	sharedSources string
}

// NewFluxPlacement returns the flux-placement policy for cfg (defaulted).
func NewFluxPlacement(cfg FluxPlacementConfig) *FluxPlacementPolicy {
	p := &FluxPlacementPolicy{cfg: cfg, controllers: map[string]bool{}}
	for _, sa := range cfg.ControllerServiceAccounts {
		p.controllers[sa] = true
	}
	p.controllers[cfg.HelmControllerServiceAccount] = true
	p.controllers[cfg.KustomizeControllerServiceAccount] = true
	shared := slices.Clone(cfg.AllowedSourceNamespaces)
	slices.Sort(shared)
	var quoted []string
	for _, ns := range slices.Compact(shared) {
		quoted = append(quoted, fmt.Sprintf("%q", ns))
	}
	p.sharedSources = strings.Join(quoted, ", ")
	return p
}

// HelmReleases is the policy as a HelmRelease validator.
func (p *FluxPlacementPolicy) HelmReleases() Validator[*helmv2.HelmRelease] {
	return fluxPlacementHelmReleases{p}
}

// Kustomizations is the policy as a Kustomization validator.
func (p *FluxPlacementPolicy) Kustomizations() Validator[*kustomizev1.Kustomization] {
	return fluxPlacementKustomizations{p}
}

type fluxPlacementHelmReleases struct{ p *FluxPlacementPolicy }

// Name returns "flux-placement".
func (fluxPlacementHelmReleases) Name() string { return FluxPlacement }

// Validate checks a HelmRelease.
func (v fluxPlacementHelmReleases) Validate(req Request, hr *helmv2.HelmRelease) []Violation {
	if hr == nil {
		return nil
	}
	p := v.p
	ns := req.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	var out []Violation
	if ns == p.cfg.InfraNamespace {
		p.infraServiceAccount(&out, "releases", p.cfg.HelmControllerServiceAccount, hr.Spec.ServiceAccountName)
		if hr.Spec.TargetNamespace == "" {
			out = append(out, Violationf("spec.targetNamespace",
				"must be set for releases in %s, to the namespace the release installs into (found none)", p.cfg.InfraNamespace))
		}
		return out
	}
	const noun = "release"
	if hr.Spec.Chart != nil {
		p.sourceNamespace(&out, "spec.chart.spec.sourceRef.namespace", noun, ns, hr.Spec.Chart.Spec.SourceRef.Namespace)
	}
	if hr.Spec.ChartRef != nil {
		p.sourceNamespace(&out, "spec.chartRef.namespace", noun, ns, hr.Spec.ChartRef.Namespace)
	}
	if hr.Spec.KubeConfig != nil {
		out = append(out, fluxNoKubeConfig(noun, ns))
	}
	p.tenantServiceAccount(&out, ns, hr.Spec.ServiceAccountName)
	fluxOwnNamespace(&out, "spec.storageNamespace", noun, ns, hr.Spec.StorageNamespace)
	fluxOwnNamespace(&out, "spec.targetNamespace", noun, ns, hr.Spec.TargetNamespace)
	return out
}

type fluxPlacementKustomizations struct{ p *FluxPlacementPolicy }

// Name returns "flux-placement".
func (fluxPlacementKustomizations) Name() string { return FluxPlacement }

// Validate checks a Kustomization.
func (v fluxPlacementKustomizations) Validate(req Request, ks *kustomizev1.Kustomization) []Violation {
	if ks == nil {
		return nil
	}
	p := v.p
	ns := req.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	var out []Violation
	if ns == p.cfg.InfraNamespace {
		p.infraServiceAccount(&out, "kustomizations", p.cfg.KustomizeControllerServiceAccount, ks.Spec.ServiceAccountName)
		return out
	}
	const noun = "kustomization"
	if ks.Spec.KubeConfig != nil {
		out = append(out, fluxNoKubeConfig(noun, ns))
	}
	p.tenantServiceAccount(&out, ns, ks.Spec.ServiceAccountName)
	p.sourceNamespace(&out, "spec.sourceRef.namespace", noun, ns, ks.Spec.SourceRef.Namespace)
	fluxOwnNamespace(&out, "spec.targetNamespace", noun, ns, ks.Spec.TargetNamespace)
	return out
}

// infraServiceAccount: objects of the infra namespace run as their controller.
func (p *FluxPlacementPolicy) infraServiceAccount(out *[]Violation, nouns, want, got string) {
	if got != want {
		*out = append(*out, Violationf("spec.serviceAccountName",
			"must be %q for %s in %s (found %s)", want, nouns, p.cfg.InfraNamespace, fluxFound(got)))
	}
}

// tenantServiceAccount: a tenant's object runs as one of its own accounts.
// Unset, Flux would apply it with the controller's own (cluster-wide) rights.
func (p *FluxPlacementPolicy) tenantServiceAccount(out *[]Violation, ns, got string) {
	switch {
	case got == "":
		*out = append(*out, Violationf("spec.serviceAccountName",
			"must be set to a service account of namespace %q (found none)", ns))
	case p.controllers[got]:
		*out = append(*out, Violationf("spec.serviceAccountName",
			"must be a service account of namespace %q, not a Flux controller's (found %q)", ns, got))
	}
}

// sourceNamespace: a source reference stays in the object's namespace (an
// empty namespace means the object's own) or in a shared source namespace.
func (p *FluxPlacementPolicy) sourceNamespace(out *[]Violation, path, noun, ns, got string) {
	if got == "" || got == ns || slices.Contains(p.cfg.AllowedSourceNamespaces, got) {
		return
	}
	if p.sharedSources == "" {
		*out = append(*out, Violationf(path,
			"must be unset or %q, the namespace of the %s (found %q)", ns, noun, got))
		return
	}
	*out = append(*out, Violationf(path,
		"must be unset or %q, the namespace of the %s, or a shared source namespace: %s (found %q)", ns, noun, p.sharedSources, got))
}

// fluxOwnNamespace: where set, a namespace field is the object's own.
func fluxOwnNamespace(out *[]Violation, path, noun, ns, got string) {
	if got != "" && got != ns {
		*out = append(*out, Violationf(path,
			"must be unset or %q, the namespace of the %s (found %q)", ns, noun, got))
	}
}

func fluxNoKubeConfig(noun, ns string) Violation {
	return Violationf("spec.kubeConfig", "must be unset (a %s in %q applies to this cluster only)", noun, ns)
}

// fluxFound is the "found" part of a message: the quoted value, or none.
func fluxFound(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}
