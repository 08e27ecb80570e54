package policies

import "k8s.io/apimachinery/pkg/util/validation/field"

// GatewayHostsConfig configures the gateway-hosts policy.
type GatewayHostsConfig struct{}

// Default fills in unset fields.
func (c *GatewayHostsConfig) Default() {}

// Validate checks the settings and names the bad fields.
func (c GatewayHostsConfig) Validate(path *field.Path) field.ErrorList { return nil }
