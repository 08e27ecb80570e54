package policies

import (
	"fmt"
	"strings"
)

// The message text of the host-ownership core. The two APIs share every
// sentence; gatewayHostsTerms holds the words their users know things by.

// Caps that keep messages short however many hosts and Gateways there are.
const (
	// gatewayHostsListed is how many hosts or Gateways a message lists
	// before "and N more".
	gatewayHostsListed = 5
	// gatewayHostsWarned is how many objects a Gateway change warns about
	// one by one before one line counts the others.
	gatewayHostsWarned = 10
)

// gatewayHostsTerms are one API's words in the core's messages.
type gatewayHostsTerms struct {
	host      string // what a hostname is called
	grantedTo string // a Gateway lets a namespace use one
	// takes and from: what a Gateway change does to an object's hosts.
	takes, from string
	users       string // the objects that use hosts, counted
	// gatewayRisk is what a Gateway outside the gateway namespaces could
	// do; gatewayHint says where the namespace ns gets its hosts instead.
	gatewayRisk string
	gatewayHint func(ns string) string
}

// istioTerms are Istio's: Gateways authorize hosts, VirtualServices bind them.
func istioTerms() gatewayHostsTerms {
	return gatewayHostsTerms{
		host: "host", grantedTo: "authorized for", takes: "unbinds", from: "of", users: "VirtualServices",
		gatewayRisk: "select the shared ingress pods and serve any host",
		gatewayHint: func(ns string) string {
			return fmt.Sprintf("where the platform team authorizes your hosts as %q", ns+"/<host>")
		},
	}
}

// gatewayAPITerms are the Gateway API's: listeners let routes use hostnames.
func gatewayAPITerms() gatewayHostsTerms {
	return gatewayHostsTerms{
		host: "hostname", grantedTo: "usable by", takes: "takes", from: "from", users: "routes",
		gatewayRisk: "take any hostname on the shared ingress",
		gatewayHint: func(string) string { return "whose listeners admit your namespace's routes" },
	}
}

// notAllowed denies a claim no grant of the namespace lets through, listing
// what the Gateway opens to it (first, of total): `host "x" is not
// authorized for namespace "a" on gateway "g" (allowed for a: "y")`.
func (t gatewayHostsTerms) notAllowed(c hostClaim, first []string, total int) Violation {
	return Violationf(c.field, "%s %q is not %s namespace %q on gateway %q (allowed for %s: %s)",
		t.host, c.written, t.grantedTo, c.ns, c.gateway, c.ns, quoteList(first, gatewayHostsListed, total))
}

// lostHosts are the warnings of a Gateway change: one line per object it
// takes hosts from, up to gatewayHostsWarned, then one that counts the rest.
type lostHosts struct {
	terms gatewayHostsTerms
	lines []string
	more  int
}

// add records that the object kind ns/name loses the hosts lost.
func (w *lostHosts) add(kind, ns, name string, lost []string) {
	switch {
	case len(lost) == 0:
	case len(w.lines) == gatewayHostsWarned:
		w.more++
	default:
		w.lines = append(w.lines, fmt.Sprintf("this change %s %s %s %s %q (no longer %s %s)",
			w.terms.takes, quoteList(lost, 3, len(lost)), w.terms.from, kind, ns+"/"+name, w.terms.grantedTo, ns))
	}
}

func (w *lostHosts) warnings() []string {
	if w.more > 0 {
		return append(w.lines, fmt.Sprintf("this change %s %ss %s %d more %s", w.terms.takes, w.terms.host, w.terms.from, w.more, w.terms.users))
	}
	return w.lines
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
