package policies

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// GatewayHostsPolicy is the gateway-hosts validator, for VirtualServices and
// Gateways. On a shared ingress the ops team owns the Gateways and writes on
// them, in Istio's own syntax, which namespace may bind which host:
// "tenant-a/shop.example.com" (tenant-a only), "./ops.example.com" (the
// Gateway's namespace), "*/status.example.com" or "status.example.com" (any
// namespace; the Gateway's namespace only with requireExplicitNamespace).
//
// A VirtualService:
//   - for each gateway it binds other than "mesh", binds only hosts the
//     Gateway authorizes for the VirtualService's namespace, each covered
//     entirely by one authorized host ("*.a.example.com" covers
//     "x.a.example.com", not "a.example.com" nor "*.example.com");
//   - binds only gateways that exist (a typo otherwise leaves a route dead);
//   - bound to the mesh (no gateways, or "mesh"), claims neither "*" nor the
//     service hosts of another namespace ("reviews.team-b",
//     "reviews.team-b.svc.cluster.local"), whose callers it would intercept,
//     unless exportTo keeps it to its own namespace's sidecars.
//
// A Gateway lives in one of the gateway namespaces: a tenant's Gateway could
// select the shared ingress pods. A change that unbinds hosts of existing
// VirtualServices is allowed with a warning that names them.
//
// The same policy covers the Gateway API (gateway_hosts_gatewayapi.go).
// Both APIs decide through the host-ownership core (gateway_hosts_core.go):
// Istio's server hosts are its grants (istioGrant, indexed in GatewayIndex),
// a VirtualService's hosts its claims.
type GatewayHostsPolicy struct {
	cfg               GatewayHostsConfig
	gatewayNamespaces map[string]bool
	// gatewayNamespacesList is the sorted, quoted list of gateway namespaces.
	gatewayNamespacesList string
}

// NewGatewayHosts returns the gateway-hosts policy for cfg (defaulted).
func NewGatewayHosts(cfg GatewayHostsConfig) *GatewayHostsPolicy {
	p := &GatewayHostsPolicy{cfg: cfg, gatewayNamespaces: map[string]bool{}}
	for _, ns := range cfg.GatewayNamespaces {
		p.gatewayNamespaces[ns] = true
	}
	namespaces := slices.Sorted(maps.Keys(p.gatewayNamespaces))
	p.gatewayNamespacesList = quoteList(namespaces, len(namespaces), len(namespaces))
	return p
}

// VirtualServices is the policy as a VirtualService validator.
func (p *GatewayHostsPolicy) VirtualServices() Validator[*istionetworkingv1.VirtualService] {
	return validatorFunc[*istionetworkingv1.VirtualService](p.validateVirtualService)
}

// Gateways is the policy as a Gateway validator; it is also a Warner.
func (p *GatewayHostsPolicy) Gateways() Validator[*istionetworkingv1.Gateway] {
	return gatewayValidator[istionetworkingv1.Gateway, *istionetworkingv1.Gateway]{p: p, terms: istioTerms(), lost: p.unboundHosts}
}

// validatorFunc is one of the policy's checks as a Validator.
type validatorFunc[T any] func(Request, T) []Violation

// Name returns "gateway-hosts".
func (validatorFunc[T]) Name() string { return GatewayHosts }

func (f validatorFunc[T]) Validate(req Request, obj T) []Violation { return f(req, obj) }

// validateVirtualService checks a VirtualService: its gateways exist, the
// Gateways authorize its hosts for its namespace, and, bound to the mesh, it
// claims no other namespace's hosts. Violations are in field order: the
// gateways, then each host.
func (p *GatewayHostsPolicy) validateVirtualService(req Request, vs *istionetworkingv1.VirtualService) []Violation {
	if vs == nil {
		return nil
	}
	ns := req.Namespace
	if ns == "" {
		ns = namespaceOrDefault(vs.Namespace)
	}
	var violations []Violation
	type boundGateway struct {
		ref string // "namespace/name"
		gw  *gatewayAuth
	}
	var gateways []boundGateway
	meshBound := len(vs.Spec.Gateways) == 0
	seen := map[string]bool{}
	for i, ref := range vs.Spec.Gateways {
		if ref == meshGateway {
			meshBound = true
			continue
		}
		key := resolveGatewayRef(ref, ns)
		if seen[key] {
			continue
		}
		seen[key] = true
		gw := req.Gateways.gateway(key)
		if gw == nil {
			violations = append(violations, p.missingGateway(fmt.Sprintf("spec.gateways[%d]", i), key, req.Gateways))
			continue
		}
		gateways = append(gateways, boundGateway{key, gw})
	}
	meshChecked := meshBound && !exportedToOwnNamespace(vs.Spec.ExportTo, ns)
	for i, h := range vs.Spec.Hosts {
		field := fmt.Sprintf("spec.hosts[%d]", i)
		host := parseHost(resolveShortName(h, ns))
		if meshChecked {
			if violation, bad := meshHostViolation(field, h, ns); bad {
				violations = append(violations, violation)
			}
		}
		for _, g := range gateways {
			if g.gw.authorizes(ns, host, p.cfg.RequireExplicitNamespace) {
				continue
			}
			first, total := g.gw.allowed(ns, p.cfg.RequireExplicitNamespace, gatewayHostsListed)
			c := hostClaim{field: field, written: h, host: host, ns: ns, gateway: g.ref}
			violations = append(violations, istioTerms().notAllowed(c, first, total))
		}
	}
	return violations
}

// missingGateway says a gateway reference names no Gateway and lists the
// Gateways of the namespace it points to or, when that has none, of the
// gateway namespaces: what the tenant most likely meant.
func (p *GatewayHostsPolicy) missingGateway(field, key string, idx *GatewayIndex) Violation {
	ns, _, _ := strings.Cut(key, "/")
	namespaces := []string{ns}
	if len(idx.gatewayNames(ns)) == 0 {
		namespaces = slices.Sorted(maps.Keys(p.gatewayNamespaces))
	}
	var first []string
	total := 0
	for _, ns := range namespaces {
		names := idx.gatewayNames(ns)
		total += len(names)
		for _, name := range names {
			if len(first) == gatewayHostsListed {
				break
			}
			first = append(first, ns+"/"+name)
		}
	}
	return Violationf(field, "gateway %q does not exist (existing gateways: %s)", key, quoteList(first, len(first), total))
}

// exportedToOwnNamespace reports whether exportTo keeps a VirtualService to
// the sidecars of its own namespace ("." or the namespace's name only).
func exportedToOwnNamespace(exportTo []string, ns string) bool {
	if len(exportTo) == 0 {
		return false // Istio's default: every namespace
	}
	for _, e := range exportTo {
		if e != "." && e != ns {
			return false
		}
	}
	return true
}

// meshHostViolation is the violation of a host a mesh-bound VirtualService
// of namespace ns may not claim: "*" and the service hosts of other
// namespaces, whose callers' traffic it would take over.
func meshHostViolation(field, host, ns string) (Violation, bool) {
	const allowed = `(allowed: hosts of namespace %q, or exportTo: ["."] to route only this namespace's calls)`
	owner, all, isService := serviceHostNamespace(host)
	switch {
	case host == "*":
		return Violationf(field, "host \"*\" would intercept the calls of every namespace in the mesh "+allowed, ns), true
	case all:
		return Violationf(field, "host %q covers the services of every namespace and would intercept their calls in the mesh "+allowed, host, ns), true
	case isService && owner != ns:
		return Violationf(field, "host %q is a service of namespace %q and would intercept its calls in the mesh "+allowed, host, owner, ns), true
	}
	return Violation{}, false
}

// serviceHostNamespace reads a host as a Kubernetes service host name, as a
// pod's DNS search path does: "reviews.team-b", "reviews.team-b.svc" and
// "reviews.team-b.svc.cluster.local" are team-b's; "*.team-b" and
// "*.team-b.svc.cluster.local" cover team-b's services; "*.svc.cluster.local",
// "*.cluster.local", "*.local" and "*.svc" cover every namespace's (all).
// A short name ("reviews") is the VirtualService's own namespace's and is
// resolved by the caller; other names are not service hosts.
func serviceHostNamespace(host string) (ns string, all, isService bool) {
	h := parseHost(host)
	if h.all || net.ParseIP(h.name) != nil {
		return "", false, false
	}
	labels := strings.Split(h.name, ".")
	n := len(labels)
	suffix := func(s ...string) bool {
		return n >= len(s) && slices.Equal(labels[n-len(s):], s)
	}
	var prefix []string // the labels before ".svc[.cluster.local]"
	switch {
	case suffix("svc", "cluster", "local"):
		prefix = labels[:n-3]
	case suffix("svc"):
		prefix = labels[:n-1]
	case h.wildcard && (h.name == "cluster.local" || h.name == "local"):
		return "", true, true
	case h.wildcard && n == 1:
		return labels[0], false, true // "*.team-b"
	case !h.wildcard && n == 2:
		return labels[1], false, true // "reviews.team-b"
	default:
		return "", false, false
	}
	switch {
	case h.wildcard && len(prefix) == 0:
		return "", true, true // "*.svc.cluster.local"
	case h.wildcard || len(prefix) >= 2:
		return prefix[len(prefix)-1], false, true
	}
	return "", false, false // "team-b.svc.cluster.local": a namespace, not a service
}

// unboundHosts adds to w the hosts of the VirtualServices bound to the
// Gateway ns/name that it authorized for their namespace and gw no longer
// does.
func (p *GatewayHostsPolicy) unboundHosts(req Request, gw *istionetworkingv1.Gateway, ns, name string, w *lostHosts) {
	key := ns + "/" + name
	before := req.Gateways.gateway(key)
	if before == nil {
		return
	}
	after := parseGateway(ns, name, gw)
	explicit := p.cfg.RequireExplicitNamespace
	for _, vs := range req.Gateways.boundTo(key) {
		var lost []string
		for _, h := range vs.hosts {
			host := parseHost(resolveShortName(h, vs.namespace))
			if before.authorizes(vs.namespace, host, explicit) && !after.authorizes(vs.namespace, host, explicit) {
				lost = append(lost, h)
			}
		}
		w.add("VirtualService", vs.namespace, vs.name, lost)
	}
}
