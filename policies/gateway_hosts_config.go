package policies

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultGatewayNamespace is where the ops team's Gateways live by default:
// the namespace of the shared ingress gateway deployment.
const DefaultGatewayNamespace = "istio-ingress"

// GatewayHostsConfig configures the gateway-hosts policy.
type GatewayHostsConfig struct {
	// GatewayNamespaces are the only namespaces where Gateways may be created
	// (the ops team's). A Gateway elsewhere could select the shared ingress
	// pods and serve any host. Default: [istio-ingress].
	GatewayNamespaces []string `json:"gatewayNamespaces,omitempty"`
	// RequireExplicitNamespace, when true, makes a Gateway host without a
	// namespace ("status.example.com" or "*/status.example.com") the
	// Gateway's own namespace's, as "./status.example.com" is, instead of any
	// namespace's (Istio's reading). Default: false.
	RequireExplicitNamespace bool `json:"requireExplicitNamespace,omitempty"`
}

// Default fills in unset fields. An explicit empty list of gateway
// namespaces is left empty (and refused by Validate), never replaced.
func (c *GatewayHostsConfig) Default() {
	if c.GatewayNamespaces == nil {
		c.GatewayNamespaces = []string{DefaultGatewayNamespace}
	}
}

// Validate checks the settings once at start-up; path is where they sit in
// the configuration file (policies.gatewayHosts). Errors name the field:
// "policies.gatewayHosts.gatewayNamespaces[1]: Duplicate value: ...".
func (c GatewayHostsConfig) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	p := path.Child("gatewayNamespaces")
	if len(c.GatewayNamespaces) == 0 {
		return append(errs, field.Required(p, "at least one namespace where the ops team's Gateways live, e.g. istio-ingress"))
	}
	seen := map[string]bool{}
	for i, ns := range c.GatewayNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Index(i), ns, strings.Join(msgs, "; ")))
		} else if seen[ns] {
			errs = append(errs, field.Duplicate(p.Index(i), ns))
		}
		seen[ns] = true
	}
	return errs
}
