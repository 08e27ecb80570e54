package policies

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults of FluxPlacementConfig: the namespace and service accounts of a
// standard Flux installation (flux bootstrap, flux install).
const (
	DefaultFluxInfraNamespace                = "flux-system"
	DefaultHelmControllerServiceAccount      = "helm-controller"
	DefaultKustomizeControllerServiceAccount = "kustomize-controller"
)

// DefaultFluxControllerServiceAccounts are the service accounts of every Flux
// controller (the four of flux install, the two image automation controllers
// and source-watcher), sorted. They hold cluster-wide rights in the infra
// namespace; a tenant release never runs as one of them.
func DefaultFluxControllerServiceAccounts() []string {
	return []string{
		"helm-controller",
		"image-automation-controller",
		"image-reflector-controller",
		"kustomize-controller",
		"notification-controller",
		"source-controller",
		"source-watcher",
	}
}

// FluxPlacementConfig configures the flux-placement policy.
type FluxPlacementConfig struct {
	// InfraNamespace is where cluster-wide infra releases live (flux-system).
	// HelmReleases and Kustomizations in any other namespace are a tenant's.
	InfraNamespace string `json:"infraNamespace,omitempty"`
	// HelmControllerServiceAccount is the account every HelmRelease of the
	// infra namespace must name in spec.serviceAccountName.
	HelmControllerServiceAccount string `json:"helmControllerServiceAccount,omitempty"`
	// KustomizeControllerServiceAccount is the account every Kustomization of
	// the infra namespace must name in spec.serviceAccountName.
	KustomizeControllerServiceAccount string `json:"kustomizeControllerServiceAccount,omitempty"`
	// ControllerServiceAccounts are the Flux controllers' accounts, which a
	// tenant release must not name. The two accounts above are always
	// included, whether listed or not.
	ControllerServiceAccounts []string `json:"controllerServiceAccounts,omitempty"`
	// AllowedSourceNamespaces are namespaces whose sources (HelmRepository,
	// OCIRepository, GitRepository, ...) every tenant may reference, besides
	// its own namespace. Default: none.
	AllowedSourceNamespaces []string `json:"allowedSourceNamespaces,omitempty"`
}

// Default fills in unset fields.
func (c *FluxPlacementConfig) Default() {
	if c.InfraNamespace == "" {
		c.InfraNamespace = DefaultFluxInfraNamespace
	}
	if c.HelmControllerServiceAccount == "" {
		c.HelmControllerServiceAccount = DefaultHelmControllerServiceAccount
	}
	if c.KustomizeControllerServiceAccount == "" {
		c.KustomizeControllerServiceAccount = DefaultKustomizeControllerServiceAccount
	}
	if c.ControllerServiceAccounts == nil {
		c.ControllerServiceAccounts = DefaultFluxControllerServiceAccounts()
	}
}

// Validate checks the settings once at start-up; path is where they sit in
// the configuration file (policies.fluxPlacement). Errors name the field:
// "policies.fluxPlacement.infraNamespace: Required value".
func (c FluxPlacementConfig) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := validateFluxName(path.Child("infraNamespace"), c.InfraNamespace, validation.IsDNS1123Label); err != nil {
		errs = append(errs, err)
	}
	if err := validateFluxName(path.Child("helmControllerServiceAccount"), c.HelmControllerServiceAccount, validation.IsDNS1123Subdomain); err != nil {
		errs = append(errs, err)
	}
	if err := validateFluxName(path.Child("kustomizeControllerServiceAccount"), c.KustomizeControllerServiceAccount, validation.IsDNS1123Subdomain); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validateFluxNames(path.Child("controllerServiceAccounts"), c.ControllerServiceAccounts, validation.IsDNS1123Subdomain)...)
	errs = append(errs, validateFluxNames(path.Child("allowedSourceNamespaces"), c.AllowedSourceNamespaces, validation.IsDNS1123Label)...)
	return errs
}

// validateFluxName checks a required namespace (DNS-1123 label) or service
// account name (DNS-1123 subdomain).
func validateFluxName(p *field.Path, name string, valid func(string) []string) *field.Error {
	if name == "" {
		return field.Required(p, "")
	}
	if msgs := valid(name); len(msgs) > 0 {
		return field.Invalid(p, name, strings.Join(msgs, "; "))
	}
	return nil
}

// validateFluxNames checks a list of names: each valid, none twice.
func validateFluxNames(p *field.Path, names []string, valid func(string) []string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, name := range names {
		if err := validateFluxName(p.Index(i), name, valid); err != nil {
			errs = append(errs, err)
		} else if seen[name] {
			errs = append(errs, field.Duplicate(p.Index(i), name))
		}
		seen[name] = true
	}
	return errs
}
