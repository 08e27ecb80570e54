package policies

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The host-ownership core of gateway-hosts. Istio and the Gateway API ask it
// the same question: may namespace ns use hostname h through this Gateway,
// and who uses it there already. Each API only translates its objects into
// the core's terms:
//
//   - a grant (hostGrant) is a hostname a Gateway opens to an audience of
//     namespaces (hostAudience): an Istio server host
//     ("tenant-a/*.a.example.com", see istioGrant), or a Gateway API
//     listener's hostname (none: any) for the namespaces its
//     allowedRoutes.namespaces admits (see listenerGrants);
//   - a claim (hostClaim) is a hostname an object asks for: a VirtualService
//     host, a route hostname, a ListenerSet listener's hostname.
//
// The core decides: which grants a claim goes through (hostName.covers,
// hostName.intersects; hostSet is the indexed form of covers for Gateways of
// thousands of hosts), whether a grant is open to ns (hostAudience.admits),
// who keeps a hostname reached through a grant shared by several namespaces
// (ownership), and what the messages say (gatewayHostsTerms).

// hostAudience is who a grant is for.
type hostAudience struct {
	from      audienceFrom
	namespace string                // fromNamespace
	selector  *metav1.LabelSelector // fromSelector
}

type audienceFrom uint8

const (
	// fromNamespace is one namespace: Istio's "ns/host" and "./host",
	// the Gateway API's Same.
	fromNamespace audienceFrom = iota
	// fromAny is every namespace: Istio's "*/host" and bare hosts, the
	// Gateway API's All.
	fromAny
	// fromSelector is the namespaces whose labels match: the Gateway API's
	// Selector.
	fromSelector
	// fromNone is no namespace: the Gateway API's None.
	fromNone
)

// admits reports whether the audience includes namespace ns, whose labels
// are nsLabels (a Selector also sees its kubernetes.io/metadata.name).
func (a hostAudience) admits(ns string, nsLabels map[string]string) bool {
	switch a.from {
	case fromNamespace:
		return a.namespace == ns
	case fromAny:
		return true
	case fromSelector:
		if a.selector == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(a.selector)
		if err != nil {
			return false
		}
		set := labels.Set{namespaceNameLabel: ns}
		for k, v := range nsLabels {
			set[k] = v
		}
		return s.Matches(set)
	}
	return false
}

// shared reports whether the audience may be more than one namespace: any,
// or a Selector that is not just one namespace's name label.
func (a hostAudience) shared() bool {
	switch a.from {
	case fromAny:
		return true
	case fromSelector:
		sel := a.selector
		return sel == nil || len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) != 1 || sel.MatchLabels[namespaceNameLabel] == ""
	}
	return false
}

// namespaceNameLabel is the label Kubernetes gives every namespace, its name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// hostGrant is a hostname a Gateway opens to a namespace.
type hostGrant struct {
	host    hostName // hostName{all: true}: any hostname
	written string   // as the Gateway writes it, for messages
	// listener is the Gateway API listener the grant comes from.
	listener string
	// shared: the grant is open to several namespaces (hostAudience.shared),
	// so a hostname under it is whoever's uses it first.
	shared bool
}

// hostGrants are the grants one Gateway opens to one namespace, in the
// Gateway's order.
type hostGrants []hostGrant

// hostUse is how an object uses the hostname it claims: it decides how the
// hostname must match a grant and what it takes on a shared one.
type hostUse uint8

const (
	// routeUse: a route's hostname goes through every listener whose
	// hostname it intersects (a route attaches to each listener it matches).
	routeUse hostUse = iota
	// listenerUse: a ListenerSet listener's hostname is a listener of its
	// own, granted when a Gateway listener's hostname covers it.
	listenerUse
)

// matches says whether hostname h, used so, goes through a grant of host.
func (u hostUse) matches(host, h hostName) bool {
	if u == listenerUse {
		return host.covers(h)
	}
	return host.intersects(h)
}

// hostReach is how a claimed hostname reaches a Gateway through its grants.
type hostReach struct {
	grants int // how many grants let it through; none: not allowed
	// sharedBy is the listener of the first of them that is shared, if any
	// (shared); onlyShared says all of them are.
	sharedBy           string
	shared, onlyShared bool
}

// reach is how h, used as use says, goes through the grants.
func (gs hostGrants) reach(h hostName, use hostUse) hostReach {
	r := hostReach{onlyShared: true}
	for _, g := range gs {
		if !use.matches(g.host, h) {
			continue
		}
		r.grants++
		r.onlyShared = r.onlyShared && g.shared
		if g.shared && !r.shared {
			r.sharedBy, r.shared = g.listener, true
		}
	}
	return r
}

// allowed are the grants' hostnames as written, each once, sorted.
func (gs hostGrants) allowed() []string {
	var out []string
	for _, g := range gs {
		if !slices.Contains(out, g.written) {
			out = append(out, g.written)
		}
	}
	slices.Sort(out)
	return out
}

// hostClaim is a hostname an object of namespace ns asks for on a Gateway.
type hostClaim struct {
	field   string // where the object asks for it: "spec.hostnames[0]"
	written string // as the object writes it, for messages
	host    hostName
	ns      string
	gateway string // "namespace/name"
}

// hostOwners says who uses a hostname on a Gateway already: the first
// object (by kind, namespace, name) of another namespace than ns, as
// "HTTPRoute tenant-a/shop", or "".
type hostOwners interface {
	owner(gateway, hostname, ns string) string
}

// ownership is the rule on hostnames reached through grants shared by
// several namespaces, where a hostname is the namespace's that uses it
// first: Gateway API would merge the rules of two namespaces' routes of one
// hostname, so the second tenant could take paths of the first one's host.
// A wildcard, or a route without hostnames (all), would take hostnames
// others may own there. A ListenerSet listener is granted by any one
// covering listener: its wildcard is its namespace's when one of them is
// not shared; its exact hostname is another namespace's wherever that one
// uses it.
//
// Istio does not call it: Istio merges the VirtualServices of one host on a
// Gateway, and gateway-hosts leaves "*/host" to every namespace at once.
func ownership(c hostClaim, r hostReach, use hostUse, owners hostOwners) (Violation, bool) {
	switch {
	case use == listenerUse && c.host.wildcard:
		if r.onlyShared {
			return Violationf(c.field,
				"wildcard hostname %q is granted only by listener %q of gateway %q, shared by several namespaces: it would take hostnames other namespaces may own (use exact hostnames)",
				c.written, r.sharedBy, c.gateway), true
		}
		return Violation{}, false
	case use == listenerUse:
	case !r.shared:
		return Violation{}, false
	case c.host.all:
		return Violationf(c.field,
			"a route without hostnames on listener %q of gateway %q, shared by several namespaces, would take every hostname of it (list the hostnames it serves)",
			r.sharedBy, c.gateway), true
	case c.host.wildcard:
		return Violationf(c.field,
			"wildcard hostname %q on listener %q of gateway %q, shared by several namespaces, would take hostnames other namespaces may own (use exact hostnames)",
			c.written, r.sharedBy, c.gateway), true
	}
	if owner := owners.owner(c.gateway, c.written, c.ns); owner != "" {
		return Violationf(c.field, "hostname %q on gateway %q belongs to another namespace (%s uses it)", c.written, c.gateway, owner), true
	}
	return Violation{}, false
}
