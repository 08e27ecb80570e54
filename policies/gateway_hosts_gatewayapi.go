package policies

import (
	"fmt"
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gateway-hosts for the Kubernetes Gateway API (gateway.networking.k8s.io/v1):
// the ops team's Gateways, in the gateway namespaces, authorize hostnames
// through their listeners: a listener's hostname (none: any) for the
// namespaces its allowedRoutes.namespaces admits and the route kinds its
// allowedRoutes.kinds admits. A route (HTTPRoute, GRPCRoute, TLSRoute) may
// use, on each parent Gateway, only hostnames a listener of that parent
// admitting its namespace and kind lets through.
//
// On a listener shared by several namespaces (All, or a Selector other than
// one namespace's name), a hostname belongs to the namespace whose route
// uses it already: another namespace's route with the same hostname on that
// Gateway is denied, naming the owner's route (Gateway API would merge their
// rules, so the second tenant could take paths of the first one's host). A
// route without hostnames, or with a wildcard, would take hostnames others
// may own there: denied on a shared listener.
//
// A ListenerSet attached to a Gateway adds listeners to it: each listener's
// hostname must be covered by one the Gateway's listeners grant the
// ListenerSet's namespace, and not be one another namespace's route or
// ListenerSet uses there; a listener without hostname (any) only in the
// gateway namespaces.
//
// A change to a Gateway that takes hostnames from routes using them is
// admitted with a warning naming those routes.
//
// The decisions are the host-ownership core's (gateway_hosts_core.go), as
// for Istio: here listeners become grants (listenerGrants), and routes' and
// ListenerSets' hostnames claims.

// APIGateways is the policy as a Gateway API Gateway validator; it is also a
// Warner.
func (p *GatewayHostsPolicy) APIGateways() Validator[*gatewayv1.Gateway] {
	return gatewayValidator[gatewayv1.Gateway, *gatewayv1.Gateway]{p: p, terms: gatewayAPITerms(), lost: takenHostnames}
}

// takenHostnames adds to w the hostnames of the routes attached to the
// Gateway ns/name that were usable through it and are not through gw.
func takenHostnames(req Request, gw *gatewayv1.Gateway, ns, name string, w *lostHosts) {
	key := ns + "/" + name
	before := req.GatewayAPI.get(key)
	if before == nil {
		return
	}
	routes, nsLabels := req.GatewayAPI.attached(key)
	for _, r := range routes {
		if r.kind == "ListenerSet" {
			continue // a ListenerSet's own listeners carry its hostnames
		}
		var lost []string
		for _, ref := range r.parents {
			if _, k := parentKey(r.namespace, ref); k != key {
				continue
			}
			had, _ := listenerGrants(before, before.Namespace, &ref, r.kind, r.namespace, nsLabels[r.namespace])
			has, _ := listenerGrants(gw, ns, &ref, r.kind, r.namespace, nsLabels[r.namespace])
			for _, h := range r.hostnames {
				host := apiHostname(h)
				if had.reach(host, routeUse).grants > 0 && has.reach(host, routeUse).grants == 0 && !slices.Contains(lost, h) {
					lost = append(lost, h)
				}
			}
		}
		w.add(r.kind, r.namespace, r.name, lost)
	}
}

// HTTPRoutes, GRPCRoutes and TLSRoutes are the policy as route validators.
func (p *GatewayHostsPolicy) HTTPRoutes() Validator[*gatewayv1.HTTPRoute] {
	return routeValidator[*gatewayv1.HTTPRoute]{p, "HTTPRoute", func(r *gatewayv1.HTTPRoute) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname) {
		return r.Spec.CommonRouteSpec, r.Spec.Hostnames
	}}
}

func (p *GatewayHostsPolicy) GRPCRoutes() Validator[*gatewayv1.GRPCRoute] {
	return routeValidator[*gatewayv1.GRPCRoute]{p, "GRPCRoute", func(r *gatewayv1.GRPCRoute) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname) {
		return r.Spec.CommonRouteSpec, r.Spec.Hostnames
	}}
}

func (p *GatewayHostsPolicy) TLSRoutes() Validator[*gatewayv1.TLSRoute] {
	return routeValidator[*gatewayv1.TLSRoute]{p, "TLSRoute", func(r *gatewayv1.TLSRoute) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname) {
		return r.Spec.CommonRouteSpec, r.Spec.Hostnames
	}}
}

type routeValidator[T any] struct {
	p    *GatewayHostsPolicy
	kind string
	spec func(T) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname)
}

func (routeValidator[T]) Name() string { return GatewayHosts }

// Validate checks, on each parent Gateway, each hostname of the route: a
// listener of the parentRef admits it, and on a shared listener it is not
// another namespace's (ownership).
func (v routeValidator[T]) Validate(req Request, route T) []Violation {
	if any(route) == nil {
		return nil
	}
	common, hostnames := v.spec(route)
	ns := req.Namespace
	var violations []Violation
	for i, ref := range common.ParentRefs {
		if !isGatewayRef(ref) {
			continue // a Service (GAMMA, the mesh) or another kind: not an ingress
		}
		field := fmt.Sprintf("spec.parentRefs[%d]", i)
		gw, key, violation, ok := v.p.parent(req, field, ns, ref)
		if !ok {
			violations = append(violations, violation)
			continue
		}
		grants, selected := listenerGrants(gw, gw.Namespace, &ref, v.kind, ns, req.NamespaceLabels)
		switch {
		case !selected:
			var names []string
			for _, l := range gw.Spec.Listeners {
				names = append(names, fmt.Sprintf("%s on %d", l.Name, l.Port))
			}
			violations = append(violations, Violationf(field, "gateway %q has no listener %s (listeners: %s)",
				key, noListener(ref), quoteList(names, gatewayHostsListed, len(names))))
			continue
		case len(grants) == 0 && len(hostnames) == 0:
			violations = append(violations, Violationf(field,
				"no listener of gateway %q admits %ss from namespace %q (its allowedRoutes must name the namespace: ask the platform team)", key, v.kind, ns))
			continue
		case len(hostnames) == 0:
			// Without hostnames, the route takes every hostname of its listeners.
			c := hostClaim{field: field, host: hostName{all: true}, ns: ns, gateway: key}
			if violation, bad := ownership(c, grants.reach(c.host, routeUse), routeUse, req.GatewayAPI); bad {
				violations = append(violations, violation)
			}
		}
		for j, h := range hostnames {
			c := hostClaim{field: fmt.Sprintf("spec.hostnames[%d]", j), written: string(h), host: apiHostname(string(h)), ns: ns, gateway: key}
			violations = appendClaim(violations, c, grants, routeUse, req.GatewayAPI)
		}
	}
	return violations
}

// appendClaim appends what the core finds wrong with claim c through the
// grants: no grant lets it through, or its ownership.
func appendClaim(violations []Violation, c hostClaim, grants hostGrants, use hostUse, owners hostOwners) []Violation {
	r := grants.reach(c.host, use)
	if r.grants == 0 {
		allowed := grants.allowed()
		return append(violations, gatewayAPITerms().notAllowed(c, allowed, len(allowed)))
	}
	if violation, bad := ownership(c, r, use, owners); bad {
		return append(violations, violation)
	}
	return violations
}

// parent is the Gateway a parentRef of an object of namespace ns names, and
// its key, when it is the ops team's: in a gateway namespace, and existing.
func (p *GatewayHostsPolicy) parent(req Request, field, ns string, ref gatewayv1.ParentReference) (*gatewayv1.Gateway, string, Violation, bool) {
	parentNS, key := parentKey(ns, ref)
	if !p.gatewayNamespaces[parentNS] {
		return nil, key, Violationf(field, "gateway %q is not in a gateway namespace (allowed: Gateways in %s)", key, p.gatewayNamespacesList), false
	}
	gw := req.GatewayAPI.get(key)
	if gw == nil {
		return nil, key, Violationf(field, "gateway %q does not exist", key), false
	}
	return gw, key, Violation{}, true
}

// ListenerSets is the policy as a ListenerSet validator.
func (p *GatewayHostsPolicy) ListenerSets() Validator[*gatewayv1.ListenerSet] {
	return validatorFunc[*gatewayv1.ListenerSet](p.validateListenerSet)
}

// validateListenerSet checks each listener's hostname: covered by one a
// listener of the parent Gateway grants the ListenerSet's namespace, and not
// another namespace's (ownership); none only in a gateway namespace.
func (p *GatewayHostsPolicy) validateListenerSet(req Request, ls *gatewayv1.ListenerSet) []Violation {
	if ls == nil {
		return nil
	}
	ns := req.Namespace
	ref := ls.Spec.ParentRef
	if !isGatewayRef(gatewayv1.ParentReference{Group: ref.Group, Kind: ref.Kind, Name: ref.Name}) {
		return nil
	}
	gw, key, violation, ok := p.parent(req, "spec.parentRef", ns, gatewayv1.ParentReference{Namespace: ref.Namespace, Name: ref.Name})
	if !ok {
		return []Violation{violation}
	}
	grants, _ := listenerGrants(gw, gw.Namespace, nil, "", ns, req.NamespaceLabels)
	var violations []Violation
	for i, l := range ls.Spec.Listeners {
		field := fmt.Sprintf("spec.listeners[%d].hostname", i)
		if l.Hostname == nil || *l.Hostname == "" {
			if !p.gatewayNamespaces[ns] {
				allowed := grants.allowed()
				violations = append(violations, Violationf(field,
					"listener %q has no hostname, so it would take every hostname of gateway %q (allowed for %s: %s)",
					l.Name, key, ns, quoteList(allowed, gatewayHostsListed, len(allowed))))
			}
			continue
		}
		h := string(*l.Hostname)
		c := hostClaim{field: field, written: h, host: apiHostname(h), ns: ns, gateway: key}
		violations = appendClaim(violations, c, grants, listenerUse, req.GatewayAPI)
	}
	return violations
}
