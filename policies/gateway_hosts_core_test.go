package policies

import (
	"fmt"
	"reflect"
	"testing"

	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The host-ownership core, each question asked in both APIs' terms: an
// Istio Gateway host and a Gateway API listener that mean the same grant,
// translated by each API's own code (parseGateway, listenerGrants).

// coreIstioGateway is istio-ingress/public with one server of hosts.
func coreIstioGateway(hosts ...string) *gatewayAuth {
	gw := &istionetworkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec:       istioapiv1alpha3.Gateway{Servers: []*istioapiv1alpha3.Server{{Hosts: hosts}}},
	}
	return parseGateway("istio-ingress", "public", gw)
}

// coreListener is an HTTPS listener on 443; hostname "" is none (any), from
// is allowedRoutes.namespaces: "Same", "All", "None", "name=<ns>" (a
// Selector on the namespace's name), "tenant=true" (on a label) or
// "name=tenant-a,tier=gold" (on both).
func coreListener(name, hostname, from string) gatewayv1.Listener {
	l := gatewayv1.Listener{Name: gatewayv1.SectionName(name), Port: 443, Protocol: gatewayv1.HTTPSProtocolType}
	if hostname != "" {
		l.Hostname = ptr.To(gatewayv1.Hostname(hostname))
	}
	ns := &gatewayv1.RouteNamespaces{}
	switch from {
	case "Same":
		ns.From = ptr.To(gatewayv1.NamespacesFromSame)
	case "All":
		ns.From = ptr.To(gatewayv1.NamespacesFromAll)
	case "None":
		ns.From = ptr.To(gatewayv1.NamespacesFromNone)
	case "tenant=true":
		ns.From = ptr.To(gatewayv1.NamespacesFromSelector)
		ns.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "true"}}
	case "name=tenant-a,tier=gold":
		ns.From = ptr.To(gatewayv1.NamespacesFromSelector)
		ns.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: "tenant-a", "tier": "gold"}}
	default: // name=<ns>
		ns.From = ptr.To(gatewayv1.NamespacesFromSelector)
		ns.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: from[len("name="):]}}
	}
	l.AllowedRoutes = &gatewayv1.AllowedRoutes{Namespaces: ns}
	return l
}

func coreAPIGateway(listeners ...gatewayv1.Listener) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec:       gatewayv1.GatewaySpec{Listeners: listeners},
	}
}

// TestCoreHostMatching: may a hostname be used under a granted one. Istio
// binds a VirtualService host when one Gateway host covers it; the Gateway
// API lets a ListenerSet listener's hostname through when a listener's
// covers it, and a route's when the two intersect.
func TestCoreHostMatching(t *testing.T) {
	for _, tc := range []struct {
		question string
		// istio is the Gateway host ("tenant-a/" first), api the listener
		// hostname ("": none) of the same grant.
		istio, api string
		claim      string
		// Whether Istio binds it, a ListenerSet listener may use it, a
		// route may use it.
		wantIstio, wantListener, wantRoute bool
	}{
		{"a name under a wildcard", "*.a.example.com", "*.a.example.com", "x.a.example.com", true, true, true},
		{"a name two labels under", "*.a.example.com", "*.a.example.com", "y.x.a.example.com", true, true, true},
		{"a wildcard under a wildcard", "*.a.example.com", "*.a.example.com", "*.x.a.example.com", true, true, true},
		{"the wildcard itself", "*.a.example.com", "*.a.example.com", "*.a.example.com", true, true, true},
		{"not the wildcard's own name", "*.a.example.com", "*.a.example.com", "a.example.com", false, false, false},
		{"whole labels only", "*.a.example.com", "*.a.example.com", "xa.example.com", false, false, false},
		{"a wider wildcard: only a route shares names with it", "*.a.example.com", "*.a.example.com", "*.example.com", false, false, true},
		{"a wildcard over an exact grant: only a route", "a.example.com", "a.example.com", "*.example.com", false, false, true},
		{"exact names, case-insensitive", "a.example.com", "a.example.com", "A.Example.COM", true, true, true},
		{"another exact name", "a.example.com", "a.example.com", "b.example.com", false, false, false},
		{"any hostname: Istio's \"*\", a listener without hostname", "*", "", "anything.example.org", true, true, true},
		{"\"*\" is every host to Istio, a mere name to the Gateway API", "*.a.example.com", "*.a.example.com", "*", false, false, false},
		// An empty first label: Istio's index takes it, the Gateway API's
		// matching (as before the core) does not; no valid name has one.
		{"an empty first label", "*.a.example.com", "*.a.example.com", ".a.example.com", true, false, false},
	} {
		t.Run(tc.question, func(t *testing.T) {
			istio := coreIstioGateway("tenant-a/" + tc.istio)
			if got := istio.authorizes("tenant-a", parseHost(tc.claim), false); got != tc.wantIstio {
				t.Errorf("Istio: %q binds %q: %v, want %v", tc.istio, tc.claim, got, tc.wantIstio)
			}
			grants, _ := listenerGrants(coreAPIGateway(coreListener("l", tc.api, "name=tenant-a")), "istio-ingress", nil, "", "tenant-a", nil)
			claim := apiHostname(tc.claim)
			if got := grants.reach(claim, listenerUse).grants > 0; got != tc.wantListener {
				t.Errorf("ListenerSet: %q under %q: %v, want %v", tc.claim, tc.api, got, tc.wantListener)
			}
			if got := grants.reach(claim, routeUse).grants > 0; got != tc.wantRoute {
				t.Errorf("route: %q through %q: %v, want %v", tc.claim, tc.api, got, tc.wantRoute)
			}
		})
	}
}

// TestCoreHostSetIsCovers: Istio's index answers as hostName.covers does,
// host by host (but for the empty first label above).
func TestCoreHostSetIsCovers(t *testing.T) {
	grants := []string{"*", "a.example.com", "*.a.example.com", "*.b.example.com"}
	claims := []string{"*", "a.example.com", "x.a.example.com", "*.x.a.example.com", "*.a.example.com", "*.example.com", "b.example.com", "y.b.example.com", "c.example.com"}
	for _, g := range grants {
		set := &hostSet{exact: map[string]struct{}{}, wildcard: map[string]struct{}{}}
		set.add(parseHost(g))
		for _, c := range claims {
			if indexed, plain := set.covers(parseHost(c)), parseHost(g).covers(parseHost(c)); indexed != plain {
				t.Errorf("%q covers %q: index %v, hostName %v", g, c, indexed, plain)
			}
		}
	}
}

// TestCoreNamespaceAuthorization: who a grant is for, and whether it is
// shared by several namespaces, from Istio's "namespace/" and from
// allowedRoutes.namespaces.
func TestCoreNamespaceAuthorization(t *testing.T) {
	type ask struct {
		ns     string
		labels map[string]string
		want   bool
	}
	tenant := map[string]string{"tenant": "true"}
	for _, tc := range []struct {
		question string
		// istio is the Gateway host's namespace part ("": a bare host, "-":
		// Istio has none), explicit requireExplicitNamespace; api is the
		// listener's from ("-": the Gateway API has none).
		istio    string
		explicit bool
		api      string
		asks     []ask
		shared   bool
	}{
		{"one namespace", "tenant-a/", false, "name=tenant-a",
			[]ask{{"tenant-a", nil, true}, {"tenant-b", nil, false}, {"istio-ingress", nil, false}}, false},
		{"the Gateway's own namespace", "./", false, "Same",
			[]ask{{"istio-ingress", nil, true}, {"tenant-a", nil, false}}, false},
		{"every namespace", "*/", false, "All",
			[]ask{{"tenant-a", nil, true}, {"tenant-b", tenant, true}, {"istio-ingress", nil, true}}, true},
		{"every namespace, written bare", "", false, "All",
			[]ask{{"tenant-a", nil, true}, {"istio-ingress", nil, true}}, true},
		// requireExplicitNamespace reads "*/" as "./", the Gateway API's
		// Same; the audience stays "any" (shared), only its reading narrows.
		{"every namespace, requireExplicitNamespace", "*/", true, "-",
			[]ask{{"istio-ingress", nil, true}, {"tenant-a", nil, false}}, true},
		{"namespaces by label (Gateway API only)", "-", false, "tenant=true",
			[]ask{{"tenant-b", tenant, true}, {"tenant-a", nil, false}}, true},
		{"a Selector on the name and another label (Gateway API only)", "-", false, "name=tenant-a,tier=gold",
			[]ask{{"tenant-a", map[string]string{"tier": "gold"}, true}, {"tenant-a", nil, false}}, true},
		{"no namespace (Gateway API only)", "-", false, "None",
			[]ask{{"istio-ingress", nil, false}, {"tenant-a", nil, false}}, false},
	} {
		t.Run(tc.question, func(t *testing.T) {
			if tc.istio != "-" {
				gw := coreIstioGateway(tc.istio + "h.example.com")
				for _, a := range tc.asks {
					if got := gw.authorizes(a.ns, parseHost("h.example.com"), tc.explicit); got != a.want {
						t.Errorf("Istio %q for %s: %v, want %v", tc.istio+"h.example.com", a.ns, got, a.want)
					}
				}
				audience, _, _ := istioGrant(tc.istio+"h.example.com", "istio-ingress")
				if got := audience.shared(); got != tc.shared {
					t.Errorf("Istio %q shared: %v, want %v", tc.istio+"h.example.com", got, tc.shared)
				}
			}
			if tc.api == "-" {
				return
			}
			gw := coreAPIGateway(coreListener("l", "h.example.com", tc.api))
			for _, a := range tc.asks {
				grants, _ := listenerGrants(gw, "istio-ingress", nil, "HTTPRoute", a.ns, a.labels)
				if got := len(grants) == 1; got != a.want {
					t.Errorf("Gateway API %s for %s: %v, want %v", tc.api, a.ns, got, a.want)
				} else if got && grants[0].shared != tc.shared {
					t.Errorf("Gateway API %s shared: %v, want %v", tc.api, grants[0].shared, tc.shared)
				}
			}
		})
	}
}

// TestCoreOwnership: on a grant shared by several namespaces, a hostname is
// the namespace's that uses it first. Istio grants "*/host" to every
// namespace as the Gateway API's All does (the same shared flag), but
// leaves the host to all of them at once: its path does not ask ownership.
func TestCoreOwnership(t *testing.T) {
	owners := NewGatewayAPIIndex()
	parents := gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 0)}}
	owners.SetRoute("HTTPRoute", "tenant-a", "web", parents, []gatewayv1.Hostname{"web.apps.example.com"})

	const gw = "istio-ingress/public"
	shared := coreListener("shared", "*.apps.example.com", "All")
	own := coreListener("own", "*.apps.example.com", "name=tenant-b")
	labelled := coreListener("labelled", "*.apps.example.com", "tenant=true")
	tenant := map[string]string{"tenant": "true"}
	for _, tc := range []struct {
		question  string
		istio     string // the Istio grant of the last listener's audience
		listeners []gatewayv1.Listener
		use       hostUse
		ns        string
		claim     string // "": a route without hostnames
		want      string
	}{
		{"a hostname another namespace's route uses, shared", "*/*.apps.example.com", []gatewayv1.Listener{shared}, routeUse, "tenant-b", "web.apps.example.com",
			`spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (HTTPRoute tenant-a/web uses it)`},
		{"the owner's namespace uses it again", "*/*.apps.example.com", []gatewayv1.Listener{shared}, routeUse, "tenant-a", "web.apps.example.com", ""},
		{"a hostname nobody uses yet", "*/*.apps.example.com", []gatewayv1.Listener{shared}, routeUse, "tenant-b", "api.apps.example.com", ""},
		{"on the namespace's own listener a route is not asked", "tenant-b/*.apps.example.com", []gatewayv1.Listener{own}, routeUse, "tenant-b", "web.apps.example.com", ""},
		{"one shared listener among those a route goes through is enough", "*/*.apps.example.com", []gatewayv1.Listener{own, shared}, routeUse, "tenant-b", "web.apps.example.com",
			`spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (HTTPRoute tenant-a/web uses it)`},
		{"a ListenerSet's exact hostname is asked everywhere", "tenant-b/*.apps.example.com", []gatewayv1.Listener{own}, listenerUse, "tenant-b", "web.apps.example.com",
			`spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (HTTPRoute tenant-a/web uses it)`},
		{"a route's wildcard on a shared listener", "*/*.apps.example.com", []gatewayv1.Listener{shared}, routeUse, "tenant-b", "*.shop.apps.example.com",
			`spec.hostnames[0]: wildcard hostname "*.shop.apps.example.com" on listener "shared" of gateway "istio-ingress/public", shared by several namespaces, would take hostnames other namespaces may own (use exact hostnames)`},
		{"the first of two shared listeners is named", "*/*.apps.example.com", []gatewayv1.Listener{own, shared, labelled}, routeUse, "tenant-b", "*.shop.apps.example.com",
			`spec.hostnames[0]: wildcard hostname "*.shop.apps.example.com" on listener "shared" of gateway "istio-ingress/public", shared by several namespaces, would take hostnames other namespaces may own (use exact hostnames)`},
		{"a route without hostnames on a shared listener", "*/*.apps.example.com", []gatewayv1.Listener{shared}, routeUse, "tenant-b", "",
			`spec.hostnames[0]: a route without hostnames on listener "shared" of gateway "istio-ingress/public", shared by several namespaces, would take every hostname of it (list the hostnames it serves)`},
		{"a ListenerSet's wildcard granted only by a shared listener", "*/*.apps.example.com", []gatewayv1.Listener{shared}, listenerUse, "tenant-b", "*.shop.apps.example.com",
			`spec.hostnames[0]: wildcard hostname "*.shop.apps.example.com" is granted only by listener "shared" of gateway "istio-ingress/public", shared by several namespaces: it would take hostnames other namespaces may own (use exact hostnames)`},
		{"a ListenerSet's wildcard its own listener grants too", "tenant-b/*.apps.example.com", []gatewayv1.Listener{shared, own}, listenerUse, "tenant-b", "*.shop.apps.example.com", ""},
		{"a ListenerSet's wildcard its own listener grants first", "*/*.apps.example.com", []gatewayv1.Listener{own, shared}, listenerUse, "tenant-b", "*.shop.apps.example.com", ""},
	} {
		t.Run(tc.question, func(t *testing.T) {
			audience, _, _ := istioGrant(tc.istio, "istio-ingress")
			grants, _ := listenerGrants(coreAPIGateway(tc.listeners...), "istio-ingress", nil, "HTTPRoute", tc.ns, tenant)
			if last := grants[len(grants)-1]; audience.shared() != last.shared {
				t.Errorf("Istio %q shared %v, listener %q shared %v", tc.istio, audience.shared(), last.listener, last.shared)
			}
			c := hostClaim{field: "spec.hostnames[0]", written: tc.claim, host: apiHostname(tc.claim), ns: tc.ns, gateway: gw}
			if tc.claim == "" {
				c.host = hostName{all: true}
			}
			var got string
			if v, bad := ownership(c, grants.reach(c.host, tc.use), tc.use, owners); bad {
				got = v.String()
			}
			if got != tc.want {
				t.Errorf("ownership\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestCoreMessages: the same sentences in each API's words.
func TestCoreMessages(t *testing.T) {
	istio, api := istioTerms(), gatewayAPITerms()
	c := hostClaim{written: "shop.b.example.com", ns: "tenant-a", gateway: "istio-ingress/public"}
	seven := []string{"a1.example.com", "a2.example.com", "a3.example.com", "a4.example.com", "a5.example.com", "a6.example.com", "a7.example.com"}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"Istio, not authorized", istio.notAllowed(c, []string{"a.example.com", "*.a.example.com"}, 2).String(),
			`host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a.example.com", "*.a.example.com")`},
		{"Gateway API, not usable", api.notAllowed(c, []string{"*.a.example.com", "a.example.com"}, 2).String(),
			`hostname "shop.b.example.com" is not usable by namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "*.a.example.com", "a.example.com")`},
		{"Istio, nothing allowed", istio.notAllowed(c, nil, 0).String(),
			`host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: none)`},
		{"Gateway API, a long list cut after five", api.notAllowed(c, seven, len(seven)).String(),
			`hostname "shop.b.example.com" is not usable by namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a1.example.com", "a2.example.com", "a3.example.com", "a4.example.com", "a5.example.com" and 2 more)`},
		{"Istio, the first five of more", istio.notAllowed(c, seven[:5], 9).String(),
			`host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "a1.example.com", "a2.example.com", "a3.example.com", "a4.example.com", "a5.example.com" and 4 more)`},
	} {
		if tc.got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}

	p := NewGatewayHosts(GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress", "istio-egress"}})
	for _, tc := range []struct {
		name  string
		terms gatewayHostsTerms
		want  []string
	}{
		{"Istio, a tenant's Gateway", istio, []string{`metadata.namespace: a Gateway in namespace "tenant-a" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-egress", "istio-ingress", where the platform team authorizes your hosts as "tenant-a/<host>")`}},
		{"Gateway API, a tenant's Gateway", api, []string{`metadata.namespace: a Gateway in namespace "tenant-a" could take any hostname on the shared ingress (allowed: Gateways in "istio-egress", "istio-ingress", whose listeners admit your namespace's routes)`}},
	} {
		var got []string
		for _, v := range p.gatewayNamespace("tenant-a", tc.terms) {
			got = append(got, v.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if v := p.gatewayNamespace("istio-egress", tc.terms); v != nil {
			t.Errorf("%s: a gateway namespace is denied: %v", tc.name, v)
		}
	}

	for _, tc := range []struct {
		name  string
		terms gatewayHostsTerms
		kind  string
		first string
		last  string
	}{
		{"Istio", istio, "VirtualService",
			`this change unbinds "a.example.com", "b.example.com", "c.example.com" and 1 more of VirtualService "t00/web" (no longer authorized for t00)`,
			`this change unbinds hosts of 2 more VirtualServices`},
		{"Gateway API", api, "HTTPRoute",
			`this change takes "a.example.com", "b.example.com", "c.example.com" and 1 more from HTTPRoute "t00/web" (no longer usable by t00)`,
			`this change takes hostnames from 2 more routes`},
	} {
		w := lostHosts{terms: tc.terms}
		w.add(tc.kind, "quiet", "web", nil) // loses nothing: not named
		for i := range 12 {
			w.add(tc.kind, fmt.Sprintf("t%02d", i), "web", []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"})
		}
		got := w.warnings()
		if len(got) != gatewayHostsWarned+1 || got[0] != tc.first || got[len(got)-1] != tc.last {
			t.Errorf("%s: %d warnings\n got %q\n ... %q\nwant %q\n ... %q", tc.name, len(got), got[0], got[len(got)-1], tc.first, tc.last)
		}
		if got := (&lostHosts{terms: tc.terms}).warnings(); got != nil {
			t.Errorf("%s: no loss warns %q", tc.name, got)
		}
	}
}
