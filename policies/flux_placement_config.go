package policies

import "k8s.io/apimachinery/pkg/util/validation/field"

// FluxPlacementConfig configures the flux-placement policy.
type FluxPlacementConfig struct{}

// Default fills in unset fields.
func (c *FluxPlacementConfig) Default() {}

// Validate checks the settings and names the bad fields.
func (c FluxPlacementConfig) Validate(path *field.Path) field.ErrorList { return nil }
