package policies

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFluxPlacementConfigDefault(t *testing.T) {
	var cfg FluxPlacementConfig
	cfg.Default()
	want := FluxPlacementConfig{
		InfraNamespace:                    "flux-system",
		HelmControllerServiceAccount:      "helm-controller",
		KustomizeControllerServiceAccount: "kustomize-controller",
		ControllerServiceAccounts: []string{
			"helm-controller", "image-automation-controller", "image-reflector-controller",
			"kustomize-controller", "notification-controller", "source-controller", "source-watcher",
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Default():\n got %+v\nwant %+v", cfg, want)
	}

	// Set fields are kept; an empty list stays empty (the two controller
	// accounts are forbidden to tenants anyway).
	set := FluxPlacementConfig{
		InfraNamespace:                    "platform",
		HelmControllerServiceAccount:      "flux-helm",
		KustomizeControllerServiceAccount: "flux-kustomize",
		ControllerServiceAccounts:         []string{},
		AllowedSourceNamespaces:           []string{"charts"},
	}
	got := set
	got.Default()
	if !reflect.DeepEqual(got, set) {
		t.Errorf("Default() changed set fields:\n got %+v\nwant %+v", got, set)
	}

	// Each call returns a fresh list: changing one config's does not leak.
	var a, b FluxPlacementConfig
	a.Default()
	a.ControllerServiceAccounts[0] = "changed"
	b.Default()
	if b.ControllerServiceAccounts[0] != "helm-controller" {
		t.Errorf("defaults share their list: %q", b.ControllerServiceAccounts)
	}
}

func TestFluxPlacementConfigValidate(t *testing.T) {
	path := field.NewPath("policies", "fluxPlacement")
	valid := func() FluxPlacementConfig {
		var cfg FluxPlacementConfig
		cfg.Default()
		return cfg
	}
	tests := []struct {
		name string
		cfg  func() FluxPlacementConfig
		want []string
	}{
		{name: "defaults", cfg: valid},
		{name: "shared sources and dotted account names", cfg: func() FluxPlacementConfig {
			cfg := valid()
			cfg.HelmControllerServiceAccount = "flux.helm-controller"
			cfg.AllowedSourceNamespaces = []string{"flux-system", "charts"}
			return cfg
		}},
		{name: "nothing set", cfg: func() FluxPlacementConfig { return FluxPlacementConfig{} }, want: []string{
			`policies.fluxPlacement.infraNamespace: Required value`,
			`policies.fluxPlacement.helmControllerServiceAccount: Required value`,
			`policies.fluxPlacement.kustomizeControllerServiceAccount: Required value`,
		}},
		{name: "bad names", cfg: func() FluxPlacementConfig {
			cfg := valid()
			cfg.InfraNamespace = "flux.system"
			cfg.HelmControllerServiceAccount = "Helm-Controller"
			cfg.KustomizeControllerServiceAccount = "kustomize_controller"
			return cfg
		}, want: []string{
			`policies.fluxPlacement.infraNamespace: Invalid value: "flux.system": must not contain dots`,
			`policies.fluxPlacement.helmControllerServiceAccount: Invalid value: "Helm-Controller": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			`policies.fluxPlacement.kustomizeControllerServiceAccount: Invalid value: "kustomize_controller": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		}},
		{name: "bad lists", cfg: func() FluxPlacementConfig {
			cfg := valid()
			cfg.ControllerServiceAccounts = []string{"source-controller", "", "source-controller"}
			cfg.AllowedSourceNamespaces = []string{"charts", "shared.charts", "charts"}
			return cfg
		}, want: []string{
			`policies.fluxPlacement.controllerServiceAccounts[1]: Required value`,
			`policies.fluxPlacement.controllerServiceAccounts[2]: Duplicate value: "source-controller"`,
			`policies.fluxPlacement.allowedSourceNamespaces[1]: Invalid value: "shared.charts": must not contain dots`,
			`policies.fluxPlacement.allowedSourceNamespaces[2]: Duplicate value: "charts"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range tt.cfg().Validate(path) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate():\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
