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
type GatewayHostsPolicy struct {
	cfg               GatewayHostsConfig
	gatewayNamespaces map[string]bool
	// gatewayNamespacesList is the sorted, quoted list of gateway namespaces.
	gatewayNamespacesList string
}

// Caps that keep messages short however many hosts and Gateways there are.
const (
	// gatewayHostsListed is how many hosts or Gateways a message lists
	// before "and N more".
	gatewayHostsListed = 5
	// gatewayHostsWarned is how many VirtualServices a Gateway change warns
	// about one by one before one line counts the others.
	gatewayHostsWarned = 10
)

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
	return gatewayHostsVirtualServices{p}
}

// Gateways is the policy as a Gateway validator; it is also a Warner.
func (p *GatewayHostsPolicy) Gateways() Validator[*istionetworkingv1.Gateway] {
	return gatewayHostsGateways{p}
}

type gatewayHostsVirtualServices struct{ p *GatewayHostsPolicy }

// Name returns "gateway-hosts".
func (gatewayHostsVirtualServices) Name() string { return GatewayHosts }

// Validate checks a VirtualService: its gateways exist, the Gateways
// authorize its hosts for its namespace, and, bound to the mesh, it claims
// no other namespace's hosts. Violations are in field order: the gateways,
// then each host.
func (v gatewayHostsVirtualServices) Validate(req Request, vs *istionetworkingv1.VirtualService) []Violation {
	if vs == nil {
		return nil
	}
	p := v.p
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
			violations = append(violations, Violationf(field,
				"host %q is not authorized for namespace %q on gateway %q (allowed for %s: %s)",
				h, ns, g.ref, ns, quoteList(first, len(first), total)))
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

type gatewayHostsGateways struct{ p *GatewayHostsPolicy }

// Name returns "gateway-hosts".
func (gatewayHostsGateways) Name() string { return GatewayHosts }

// Validate checks that a Gateway is in a gateway namespace.
func (v gatewayHostsGateways) Validate(req Request, gw *istionetworkingv1.Gateway) []Violation {
	if gw == nil {
		return nil
	}
	ns := req.Namespace
	if ns == "" {
		ns = namespaceOrDefault(gw.Namespace)
	}
	if v.p.gatewayNamespaces[ns] {
		return nil
	}
	return []Violation{Violationf("metadata.namespace",
		"a Gateway in namespace %q could select the shared ingress pods and serve any host (allowed: Gateways in %s, where the platform team authorizes your hosts as %q)",
		ns, v.p.gatewayNamespacesList, ns+"/<host>")}
}

// Warn names the existing VirtualServices a Gateway change unbinds hosts of:
// hosts the Gateway as known (the informer cache, or --context) authorized
// for their namespace, and the changed Gateway no longer does.
func (v gatewayHostsGateways) Warn(req Request, gw *istionetworkingv1.Gateway) []string {
	if gw == nil {
		return nil
	}
	ns := req.Namespace
	if ns == "" {
		ns = namespaceOrDefault(gw.Namespace)
	}
	name := gw.Name
	if name == "" {
		name = req.Name
	}
	key := ns + "/" + name
	before := req.Gateways.gateway(key)
	if before == nil {
		return nil
	}
	after := parseGateway(ns, name, gw)
	explicit := v.p.cfg.RequireExplicitNamespace
	var warnings []string
	more := 0
	for _, vs := range req.Gateways.boundTo(key) {
		var lost []string
		for _, h := range vs.hosts {
			host := parseHost(resolveShortName(h, vs.namespace))
			if before.authorizes(vs.namespace, host, explicit) && !after.authorizes(vs.namespace, host, explicit) {
				lost = append(lost, h)
			}
		}
		if len(lost) == 0 {
			continue
		}
		if len(warnings) == gatewayHostsWarned {
			more++
			continue
		}
		warnings = append(warnings, fmt.Sprintf("this change unbinds %s of VirtualService %q (no longer authorized for %s)",
			quoteList(lost, 3, len(lost)), vs.namespace+"/"+vs.name, vs.namespace))
	}
	if more > 0 {
		warnings = append(warnings, fmt.Sprintf("this change unbinds hosts of %d more VirtualServices", more))
	}
	return warnings
}

// quoteList quotes the first max of items, which are the first of total,
// joined with ", ", and says how many more there are: `"a", "b" and 3 more`,
// or "none".
func quoteList(items []string, max, total int) string {
	if total == 0 {
		return "none"
	}
	if len(items) > max {
		items = items[:max]
	}
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	out := strings.Join(quoted, ", ")
	if rest := total - len(items); rest > 0 {
		out += fmt.Sprintf(" and %d more", rest)
	}
	return out
}
