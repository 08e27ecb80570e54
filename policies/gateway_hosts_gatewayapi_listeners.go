package policies

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The Gateway API in the host-ownership core's terms: a Gateway's listeners
// as grants, its hostnames as hostNames.

// listenerGrants are the hostnames the listeners of gw (in namespace
// gatewayNS) that ref selects (nil: every listener) open to the routes of
// kind ("": any kind, for a ListenerSet) of namespace ns, whose labels are
// nsLabels. selected says whether ref selects any listener at all.
func listenerGrants(gw *gatewayv1.Gateway, gatewayNS string, ref *gatewayv1.ParentReference, kind, ns string, nsLabels map[string]string) (grants hostGrants, selected bool) {
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		if ref != nil && !selects(*ref, l) {
			continue
		}
		selected = true
		if kind != "" && !admitsKind(l, kind) {
			continue
		}
		audience := listenerAudience(l, gatewayNS)
		if !audience.admits(ns, nsLabels) {
			continue
		}
		g := hostGrant{host: hostName{all: true}, written: "*", listener: string(l.Name), shared: audience.shared()}
		if l.Hostname != nil {
			g.host, g.written = apiHostname(string(*l.Hostname)), string(*l.Hostname)
		}
		grants = append(grants, g)
	}
	return grants, selected
}

// apiHostname reads a Gateway API hostname: "*.example.com" is a wildcard.
// There is no "*" (the Hostname pattern refuses it; a listener without a
// hostname is any), so a literal "*" is only itself.
func apiHostname(h string) hostName {
	if h == "*" {
		return hostName{name: h}
	}
	return parseHost(h)
}

// hostnamesIntersect says whether a listener hostname and a route hostname
// have a hostname in common (hostName.intersects).
func hostnamesIntersect(listener, route string) bool {
	return apiHostname(listener).intersects(apiHostname(route))
}

// listenerAudience is allowedRoutes.namespaces.from as Gateway API defines
// it: Same (the default) the Gateway's own namespace, All any, Selector the
// namespaces whose labels match, None none.
func listenerAudience(l *gatewayv1.Listener, gatewayNS string) hostAudience {
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
		return hostAudience{from: fromAny}
	case gatewayv1.NamespacesFromSelector:
		return hostAudience{from: fromSelector, selector: sel}
	case gatewayv1.NamespacesFromNone:
		return hostAudience{from: fromNone}
	}
	return hostAudience{from: fromNamespace, namespace: gatewayNS}
}

// admitsKind is allowedRoutes.kinds, or without it the kinds of the
// listener's protocol (Gateway API's defaults: HTTP and HTTPS take HTTPRoute
// and GRPCRoute, TLS takes TLSRoute).
func admitsKind(l *gatewayv1.Listener, kind string) bool {
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

// selects says whether a parentRef attaches to listener l: the one its
// sectionName names and those on its port, when set (Gateway API's
// ParentReference: both narrow).
func selects(ref gatewayv1.ParentReference, l *gatewayv1.Listener) bool {
	if ref.SectionName != nil && *ref.SectionName != "" && l.Name != *ref.SectionName {
		return false
	}
	return ref.Port == nil || *ref.Port == 0 || l.Port == *ref.Port
}

// noListener says what a parentRef that selects no listener asks for.
func noListener(ref gatewayv1.ParentReference) string {
	var parts []string
	if ref.SectionName != nil && *ref.SectionName != "" {
		parts = append(parts, fmt.Sprintf("named %q", *ref.SectionName))
	}
	if ref.Port != nil && *ref.Port != 0 {
		parts = append(parts, fmt.Sprintf("on port %d", *ref.Port))
	}
	if len(parts) == 0 {
		return "at all"
	}
	return strings.Join(parts, " ")
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
