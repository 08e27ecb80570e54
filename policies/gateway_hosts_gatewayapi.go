package policies

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// GatewayAPIIndex holds the cluster's Gateway API Gateways by
// "namespace/name": the server's informer keeps it, review fills it from
// --context and its inputs. Safe for concurrent use.
type GatewayAPIIndex struct {
	mu       sync.RWMutex
	gateways map[string]*gatewayv1.Gateway
	// routes: "Kind/namespace/name" -> the hostname keys it uses; byHost:
	// "gateway key|hostname" -> the routes using it, so that an ownership
	// check costs the same with 10 or 10,000 routes.
	routes map[string][]string
	byHost map[string]map[string]bool
	// details of each route, the routes per Gateway, and the namespaces'
	// labels: what a Gateway change is checked against (Warn).
	details   map[string]apiRoute
	byGateway map[string]map[string]bool
	nsLabels  map[string]map[string]string
}

// apiRoute is what the index keeps of a route for Gateway changes.
type apiRoute struct {
	kind, namespace, name string
	parents               []gatewayv1.ParentReference
	hostnames             []string
}

// SetNamespaceLabels records a namespace's labels (for listeners'
// Selectors, when a Gateway changes).
func (x *GatewayAPIIndex) SetNamespaceLabels(ns string, l map[string]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nsLabels[ns] = l
}

// DeleteNamespace forgets a namespace's labels.
func (x *GatewayAPIIndex) DeleteNamespace(ns string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.nsLabels, ns)
}

// NewGatewayAPIIndex returns an empty index.
func NewGatewayAPIIndex() *GatewayAPIIndex {
	return &GatewayAPIIndex{gateways: map[string]*gatewayv1.Gateway{}, routes: map[string][]string{}, byHost: map[string]map[string]bool{},
		details: map[string]apiRoute{}, byGateway: map[string]map[string]bool{}, nsLabels: map[string]map[string]string{}}
}

// SetRoute records (or replaces) the hostnames a route uses on the Gateways
// it names as parents.
func (x *GatewayAPIIndex) SetRoute(kind, namespace, name string, common gatewayv1.CommonRouteSpec, hostnames []gatewayv1.Hostname) {
	namespace = namespaceOrDefault(namespace)
	rkey := kind + "/" + namespace + "/" + name
	var keys, gateways []string
	d := apiRoute{kind: kind, namespace: namespace, name: name}
	for _, h := range hostnames {
		d.hostnames = append(d.hostnames, string(h))
	}
	for _, ref := range common.ParentRefs {
		if !isGatewayRef(ref) {
			continue
		}
		d.parents = append(d.parents, ref)
		_, gw := parentKey(namespace, ref)
		gateways = append(gateways, gw)
		for _, h := range hostnames {
			k := gw + "|" + strings.ToLower(string(h))
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetRoute(rkey)
	x.routes[rkey] = keys
	for _, k := range keys {
		if x.byHost[k] == nil {
			x.byHost[k] = map[string]bool{}
		}
		x.byHost[k][rkey] = true
	}
	x.details[rkey] = d
	for _, g := range gateways {
		if x.byGateway[g] == nil {
			x.byGateway[g] = map[string]bool{}
		}
		x.byGateway[g][rkey] = true
	}
}

// DeleteRoute forgets a route.
func (x *GatewayAPIIndex) DeleteRoute(kind, namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetRoute(kind + "/" + namespaceOrDefault(namespace) + "/" + name)
}

func (x *GatewayAPIIndex) forgetRoute(rkey string) {
	for _, k := range x.routes[rkey] {
		delete(x.byHost[k], rkey)
		if len(x.byHost[k]) == 0 {
			delete(x.byHost, k)
		}
	}
	delete(x.routes, rkey)
	for g, set := range x.byGateway {
		if set[rkey] {
			delete(set, rkey)
			if len(set) == 0 {
				delete(x.byGateway, g)
			}
		}
	}
	delete(x.details, rkey)
}

// attached is the routes (and ListenerSets) naming the Gateway gwKey as a
// parent, sorted, with their namespaces' labels.
func (x *GatewayAPIIndex) attached(gwKey string) ([]apiRoute, map[string]map[string]string) {
	if x == nil {
		return nil, nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	keys := make([]string, 0, len(x.byGateway[gwKey]))
	for k := range x.byGateway[gwKey] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]apiRoute, 0, len(keys))
	labels := map[string]map[string]string{}
	for _, k := range keys {
		d := x.details[k]
		out = append(out, d)
		labels[d.namespace] = x.nsLabels[d.namespace]
	}
	return out, labels
}

// owner is the first route (by kind, namespace, name) of another namespace
// than ns that uses hostname on the Gateway gwKey: "HTTPRoute tenant-a/shop".
func (x *GatewayAPIIndex) owner(gwKey, hostname, ns string) string {
	if x == nil {
		return ""
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var others []string
	for rkey := range x.byHost[gwKey+"|"+strings.ToLower(hostname)] {
		parts := strings.SplitN(rkey, "/", 3)
		if parts[1] != ns {
			others = append(others, rkey)
		}
	}
	if len(others) == 0 {
		return ""
	}
	slices.Sort(others)
	parts := strings.SplitN(others[0], "/", 2)
	return parts[0] + " " + parts[1]
}

// SetGateway records (or replaces) a Gateway.
func (x *GatewayAPIIndex) SetGateway(gw *gatewayv1.Gateway) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gateways[namespaceOrDefault(gw.Namespace)+"/"+gw.Name] = gw.DeepCopy()
}

// DeleteGateway forgets a Gateway.
func (x *GatewayAPIIndex) DeleteGateway(namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.gateways, namespaceOrDefault(namespace)+"/"+name)
}

func (x *GatewayAPIIndex) get(key string) *gatewayv1.Gateway {
	if x == nil {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gateways[key]
}

// APIGateways is the policy as a Gateway API Gateway validator: a Gateway
// lives in one of the gateway namespaces.
func (p *GatewayHostsPolicy) APIGateways() Validator[*gatewayv1.Gateway] {
	return gatewayHostsAPIGateways{p}
}

type gatewayHostsAPIGateways struct{ p *GatewayHostsPolicy }

func (gatewayHostsAPIGateways) Name() string { return GatewayHosts }

func (v gatewayHostsAPIGateways) Validate(req Request, gw *gatewayv1.Gateway) []Violation {
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
		"a Gateway in namespace %q could take any hostname on the shared ingress (allowed: Gateways in %s, whose listeners admit your namespace's routes)",
		ns, v.p.gatewayNamespacesList)}
}

// Warn names the existing routes a Gateway change takes hostnames from:
// hostnames usable through the Gateway as known (the informer cache, or
// --context) and not through the changed one.
func (v gatewayHostsAPIGateways) Warn(req Request, gw *gatewayv1.Gateway) []string {
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
	before := req.GatewayAPI.get(key)
	if before == nil {
		return nil
	}
	after := gw.DeepCopy()
	after.Namespace = ns
	routes, nsLabels := req.GatewayAPI.attached(key)
	var warnings []string
	more := 0
	for _, r := range routes {
		if r.kind == "ListenerSet" {
			continue // a ListenerSet's own listeners carry its hostnames
		}
		var lost []string
		for _, ref := range r.parents {
			if _, k := parentKey(r.namespace, ref); k != key {
				continue
			}
			for _, h := range r.hostnames {
				if usableThrough(before, ref, r.kind, r.namespace, nsLabels[r.namespace], h) &&
					!usableThrough(after, ref, r.kind, r.namespace, nsLabels[r.namespace], h) && !slices.Contains(lost, h) {
					lost = append(lost, h)
				}
			}
		}
		if len(lost) == 0 {
			continue
		}
		if len(warnings) == gatewayHostsWarned {
			more++
			continue
		}
		warnings = append(warnings, fmt.Sprintf("this change takes %s from %s %q (no longer usable by %s)",
			quoteList(lost, 3, len(lost)), r.kind, r.namespace+"/"+r.name, r.namespace))
	}
	if more > 0 {
		warnings = append(warnings, fmt.Sprintf("this change takes hostnames from %d more routes", more))
	}
	return warnings
}

// usableThrough says whether hostname h of a route of kind in ns can go
// through a listener of gw that parentRef ref selects and that admits it.
func usableThrough(gw *gatewayv1.Gateway, ref gatewayv1.ParentReference, kind, ns string, nsLabels map[string]string, h string) bool {
	listeners, _ := selectListeners(gw, ref)
	for _, l := range listeners {
		if admitsNamespace(l, gw.Namespace, ns, nsLabels) && admitsKind(l, kind) &&
			(l.Hostname == nil || hostnamesIntersect(string(*l.Hostname), h)) {
			return true
		}
	}
	return false
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
		parentNS, key := parentKey(ns, ref)
		gw := req.GatewayAPI.get(key)
		switch {
		case !v.p.gatewayNamespaces[parentNS]:
			violations = append(violations, Violationf(field, "gateway %q is not in a gateway namespace (allowed: Gateways in %s)", key, v.p.gatewayNamespacesList))
			continue
		case gw == nil:
			violations = append(violations, Violationf(field, "gateway %q does not exist", key))
			continue
		}
		listeners, why := selectListeners(gw, ref)
		if why != "" {
			var names []string
			for _, l := range gw.Spec.Listeners {
				names = append(names, fmt.Sprintf("%s on %d", l.Name, l.Port))
			}
			violations = append(violations, Violationf(field, "gateway %q has no listener %s (listeners: %s)",
				key, why, quoteList(names, gatewayHostsListed, len(names))))
			continue
		}
		var admitting []gatewayv1.Listener
		for _, l := range listeners {
			if admitsNamespace(l, gw.Namespace, ns, req.NamespaceLabels) && admitsKind(l, v.kind) {
				admitting = append(admitting, l)
			}
		}
		if len(admitting) == 0 && len(hostnames) == 0 {
			violations = append(violations, Violationf(field,
				"no listener of gateway %q admits %ss from namespace %q (its allowedRoutes must name the namespace: ask the platform team)", key, v.kind, ns))
			continue
		}
		allowed := allowedHostnames(admitting)
		if len(hostnames) == 0 {
			if l, ok := firstShared(admitting); ok {
				violations = append(violations, Violationf(field,
					"a route without hostnames on listener %q of gateway %q, shared by several namespaces, would take every hostname of it (list the hostnames it serves)", l.Name, key))
			}
		}
		for j, h := range hostnames {
			hfield := fmt.Sprintf("spec.hostnames[%d]", j)
			var through []gatewayv1.Listener
			for _, l := range admitting {
				if l.Hostname == nil || hostnamesIntersect(string(*l.Hostname), string(h)) {
					through = append(through, l)
				}
			}
			if len(through) == 0 {
				violations = append(violations, Violationf(hfield,
					"hostname %q is not usable by namespace %q on gateway %q (allowed for %s: %s)",
					h, ns, key, ns, quoteList(allowed, gatewayHostsListed, len(allowed))))
				continue
			}
			l, shared := firstShared(through)
			switch {
			case !shared:
			case strings.HasPrefix(string(h), "*."):
				violations = append(violations, Violationf(hfield,
					"wildcard hostname %q on listener %q of gateway %q, shared by several namespaces, would take hostnames other namespaces may own (use exact hostnames)", h, l.Name, key))
			default:
				if owner := req.GatewayAPI.owner(key, string(h), ns); owner != "" {
					violations = append(violations, Violationf(hfield,
						"hostname %q on gateway %q belongs to another namespace (%s uses it)", h, key, owner))
				}
			}
		}
	}
	return violations
}

// ListenerSets is the policy as a ListenerSet validator.
func (p *GatewayHostsPolicy) ListenerSets() Validator[*gatewayv1.ListenerSet] {
	return gatewayHostsListenerSets{p}
}

type gatewayHostsListenerSets struct{ p *GatewayHostsPolicy }

func (gatewayHostsListenerSets) Name() string { return GatewayHosts }

func (v gatewayHostsListenerSets) Validate(req Request, ls *gatewayv1.ListenerSet) []Violation {
	if ls == nil {
		return nil
	}
	ns := req.Namespace
	ref := ls.Spec.ParentRef
	if !isGatewayRef(gatewayv1.ParentReference{Group: ref.Group, Kind: ref.Kind, Name: ref.Name}) {
		return nil
	}
	parentNS, key := parentKey(ns, gatewayv1.ParentReference{Namespace: ref.Namespace, Name: ref.Name})
	gw := req.GatewayAPI.get(key)
	switch {
	case !v.p.gatewayNamespaces[parentNS]:
		return []Violation{Violationf("spec.parentRef", "gateway %q is not in a gateway namespace (allowed: Gateways in %s)", key, v.p.gatewayNamespacesList)}
	case gw == nil:
		return []Violation{Violationf("spec.parentRef", "gateway %q does not exist", key)}
	}
	var granted []gatewayv1.Listener
	for _, l := range gw.Spec.Listeners {
		if admitsNamespace(l, gw.Namespace, ns, req.NamespaceLabels) {
			granted = append(granted, l)
		}
	}
	allowed := allowedHostnames(granted)
	var violations []Violation
	for i, l := range ls.Spec.Listeners {
		field := fmt.Sprintf("spec.listeners[%d].hostname", i)
		if l.Hostname == nil || *l.Hostname == "" {
			if !v.p.gatewayNamespaces[ns] {
				violations = append(violations, Violationf(field,
					"listener %q has no hostname, so it would take every hostname of gateway %q (allowed for %s: %s)",
					l.Name, key, ns, quoteList(allowed, gatewayHostsListed, len(allowed))))
			}
			continue
		}
		h := string(*l.Hostname)
		var covering []gatewayv1.Listener
		for _, g := range granted {
			if g.Hostname == nil || hostnameCovers(string(*g.Hostname), h) {
				covering = append(covering, g)
			}
		}
		if len(covering) == 0 {
			violations = append(violations, Violationf(field,
				"hostname %q is not usable by namespace %q on gateway %q (allowed for %s: %s)",
				h, ns, key, ns, quoteList(allowed, gatewayHostsListed, len(allowed))))
			continue
		}
		// A wildcard is the namespace's only where a listener of its own
		// grants it; granted only by shared listeners it takes what others
		// may own.
		if strings.HasPrefix(h, "*.") {
			if g, ok := firstShared(covering); ok && len(sharedOnly(covering)) == len(covering) {
				violations = append(violations, Violationf(field,
					"wildcard hostname %q is granted only by listener %q of gateway %q, shared by several namespaces: it would take hostnames other namespaces may own (use exact hostnames)", h, g.Name, key))
			}
			continue
		}
		if owner := req.GatewayAPI.owner(key, h, ns); owner != "" {
			violations = append(violations, Violationf(field,
				"hostname %q on gateway %q belongs to another namespace (%s uses it)", h, key, owner))
		}
	}
	return violations
}

// ListenerSetRoutes is how the index records a ListenerSet's hostnames (as
// a route on its parent Gateway), so that they are owned as routes' are.
func ListenerSetRoutes(ls *gatewayv1.ListenerSet) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname) {
	ref := ls.Spec.ParentRef
	common := gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Group: ref.Group, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}}}
	var hostnames []gatewayv1.Hostname
	for _, l := range ls.Spec.Listeners {
		if l.Hostname != nil && *l.Hostname != "" {
			hostnames = append(hostnames, *l.Hostname)
		}
	}
	return common, hostnames
}

// hostnameCovers says whether every hostname b matches is one a matches: a
// listener hostname granting b ("*.a.example.com" covers "x.a.example.com"
// and "*.x.a.example.com", not "*.example.com").
func hostnameCovers(a, b string) bool {
	aw, bw := strings.HasPrefix(a, "*."), strings.HasPrefix(b, "*.")
	switch {
	case !aw:
		return !bw && strings.EqualFold(a, b)
	case !bw:
		return hasLabelSuffix(b, a[1:])
	}
	return strings.EqualFold(a, b) || hasLabelSuffix(b[1:], a[1:])
}

// parentKey is the namespace and "namespace/name" of the Gateway a parentRef
// names; its namespace defaults to the referring object's (ns).
func parentKey(ns string, ref gatewayv1.ParentReference) (namespace, key string) {
	namespace = ns
	if ref.Namespace != nil && *ref.Namespace != "" {
		namespace = string(*ref.Namespace)
	}
	return namespace, namespace + "/" + string(ref.Name)
}

// isGatewayRef says whether a parentRef names a Gateway (the defaults:
// group gateway.networking.k8s.io, kind Gateway).
func isGatewayRef(ref gatewayv1.ParentReference) bool {
	group := gatewayv1.GroupName
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	kind := "Gateway"
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return group == gatewayv1.GroupName && kind == "Gateway"
}

// selectListeners is the listeners a parentRef attaches to: the one its
// sectionName names and those on its port, when set (Gateway API's
// ParentReference: both narrow). why says what is missing when none is left.
func selectListeners(gw *gatewayv1.Gateway, ref gatewayv1.ParentReference) (out []gatewayv1.Listener, why string) {
	for _, l := range gw.Spec.Listeners {
		if ref.SectionName != nil && *ref.SectionName != "" && l.Name != *ref.SectionName {
			continue
		}
		if ref.Port != nil && *ref.Port != 0 && l.Port != *ref.Port {
			continue
		}
		out = append(out, l)
	}
	if len(out) > 0 {
		return out, ""
	}
	var parts []string
	if ref.SectionName != nil && *ref.SectionName != "" {
		parts = append(parts, fmt.Sprintf("named %q", *ref.SectionName))
	}
	if ref.Port != nil && *ref.Port != 0 {
		parts = append(parts, fmt.Sprintf("on port %d", *ref.Port))
	}
	if len(parts) == 0 {
		return nil, "at all"
	}
	return nil, strings.Join(parts, " ")
}

// admitsNamespace is allowedRoutes.namespaces.from as Gateway API defines it:
// Same (the default) the Gateway's own namespace, All any, Selector the
// namespaces whose labels match, None none.
func admitsNamespace(l gatewayv1.Listener, gatewayNS, ns string, nsLabels map[string]string) bool {
	from := gatewayv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
		if l.AllowedRoutes.Namespaces.From != nil {
			from = *l.AllowedRoutes.Namespaces.From
		}
		sel = l.AllowedRoutes.Namespaces.Selector
	}
	switch from {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSelector:
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || sel == nil {
			return false
		}
		set := labels.Set{"kubernetes.io/metadata.name": ns}
		for k, v := range nsLabels {
			set[k] = v
		}
		return s.Matches(set)
	case gatewayv1.NamespacesFromNone:
		return false
	}
	return gatewayNS == ns
}

// admitsKind is allowedRoutes.kinds, or without it the kinds of the
// listener's protocol (Gateway API's defaults: HTTP and HTTPS take HTTPRoute
// and GRPCRoute, TLS takes TLSRoute).
func admitsKind(l gatewayv1.Listener, kind string) bool {
	if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
		for _, k := range l.AllowedRoutes.Kinds {
			group := gatewayv1.GroupName
			if k.Group != nil {
				group = string(*k.Group)
			}
			if group == gatewayv1.GroupName && string(k.Kind) == kind {
				return true
			}
		}
		return false
	}
	switch l.Protocol {
	case gatewayv1.HTTPProtocolType, gatewayv1.HTTPSProtocolType:
		return kind == "HTTPRoute" || kind == "GRPCRoute"
	case gatewayv1.TLSProtocolType:
		return kind == "TLSRoute"
	}
	return false
}

// firstShared is the first listener that admits more than one namespace:
// All, or a Selector that is not just one namespace's name label.
func firstShared(listeners []gatewayv1.Listener) (gatewayv1.Listener, bool) {
	for _, l := range listeners {
		if l.AllowedRoutes == nil || l.AllowedRoutes.Namespaces == nil || l.AllowedRoutes.Namespaces.From == nil {
			continue // Same
		}
		switch *l.AllowedRoutes.Namespaces.From {
		case gatewayv1.NamespacesFromAll:
			return l, true
		case gatewayv1.NamespacesFromSelector:
			sel := l.AllowedRoutes.Namespaces.Selector
			if sel == nil || len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) != 1 || sel.MatchLabels["kubernetes.io/metadata.name"] == "" {
				return l, true
			}
		}
	}
	return gatewayv1.Listener{}, false
}

// sharedOnly is the listeners that admit more than one namespace.
func sharedOnly(listeners []gatewayv1.Listener) []gatewayv1.Listener {
	var out []gatewayv1.Listener
	for _, l := range listeners {
		if _, ok := firstShared([]gatewayv1.Listener{l}); ok {
			out = append(out, l)
		}
	}
	return out
}

// allowedHostnames are the admitting listeners' hostnames, sorted ("*" for
// a listener without one: any).
func allowedHostnames(listeners []gatewayv1.Listener) []string {
	var out []string
	for _, l := range listeners {
		h := "*"
		if l.Hostname != nil {
			h = string(*l.Hostname)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// hostnamesIntersect says whether a listener hostname and a route hostname
// have a hostname in common, as the Gateway API spec matches them (the
// Hostnames field of HTTPRoute, apis/v1/httproute_types.go): exact names are
// equal; a wildcard "*.example.com" is a suffix match on whole labels, so it
// covers "test.example.com" and "foo.test.example.com" but not
// "example.com"; between two wildcards, one must cover the other.
func hostnamesIntersect(a, b string) bool {
	aw, bw := strings.HasPrefix(a, "*."), strings.HasPrefix(b, "*.")
	switch {
	case !aw && !bw:
		return strings.EqualFold(a, b)
	case aw && !bw:
		return hasLabelSuffix(b, a[1:])
	case !aw && bw:
		return hasLabelSuffix(a, b[1:])
	}
	return strings.EqualFold(a, b) || hasLabelSuffix(a[1:], b[1:]) || hasLabelSuffix(b[1:], a[1:])
}

// hasLabelSuffix says whether host ends with suffix (".example.com") and has
// at least one label before it.
func hasLabelSuffix(host, suffix string) bool {
	return len(host) > len(suffix) && strings.HasSuffix(strings.ToLower(host), strings.ToLower(suffix))
}
