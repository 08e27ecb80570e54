package policies

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// gatewayValidator is the policy as a validator of one API's Gateways (T):
// a Gateway lives in one of the gateway namespaces (a tenant's could take
// the shared ingress), and a change that takes hosts from the objects using
// them is admitted with a warning naming those (Warn).
type gatewayValidator[G any, T gatewayObject[G]] struct {
	p     *GatewayHostsPolicy
	terms gatewayHostsTerms
	// lost adds to w the hosts that the Gateway ns/name as known (the
	// informer cache, or --context) grants the objects using it and the
	// changed one, gw, no longer does; none for a Gateway not known.
	lost func(req Request, gw T, ns, name string, w *lostHosts)
}

// gatewayObject is a pointer to a Gateway of either API.
type gatewayObject[G any] interface {
	*G
	metav1.Object
}

// Name returns "gateway-hosts".
func (gatewayValidator[G, T]) Name() string { return GatewayHosts }

// Validate checks that a Gateway is in a gateway namespace.
func (v gatewayValidator[G, T]) Validate(req Request, gw T) []Violation {
	if gw == nil {
		return nil
	}
	ns, _ := reviewed(req, gw)
	return v.p.gatewayNamespace(ns, v.terms)
}

// Warn names the objects a Gateway change takes hosts from.
func (v gatewayValidator[G, T]) Warn(req Request, gw T) []string {
	if gw == nil {
		return nil
	}
	ns, name := reviewed(req, gw)
	w := lostHosts{terms: v.terms}
	v.lost(req, gw, ns, name, &w)
	return w.warnings()
}

// gatewayNamespace denies a Gateway outside the gateway namespaces: a
// tenant's Gateway could take the shared ingress.
func (p *GatewayHostsPolicy) gatewayNamespace(ns string, t gatewayHostsTerms) []Violation {
	if p.gatewayNamespaces[ns] {
		return nil
	}
	return []Violation{Violationf("metadata.namespace", "a Gateway in namespace %q could %s (allowed: Gateways in %s, %s)",
		ns, t.gatewayRisk, p.gatewayNamespacesList, t.gatewayHint(ns))}
}

// reviewed is the namespace and name of the object under review: the
// request's namespace (else the object's, "default" when unset) and the
// object's name (else the request's).
func reviewed(req Request, obj metav1.Object) (ns, name string) {
	ns, name = req.Namespace, obj.GetName()
	if ns == "" {
		ns = namespaceOrDefault(obj.GetNamespace())
	}
	if name == "" {
		name = req.Name
	}
	return ns, name
}
