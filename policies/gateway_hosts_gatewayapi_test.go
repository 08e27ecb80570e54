package policies

import (
	"reflect"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestHostnamesIntersect(t *testing.T) {
	for _, tc := range []struct {
		listener, route string
		want            bool
	}{
		// The examples of the Gateway API spec (HTTPRoute.spec.hostnames).
		{"test.example.com", "test.example.com", true},
		{"test.example.com", "*.example.com", true},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "test.example.com", true},
		{"*.example.com", "foo.test.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "test.example.net", false},
		// Whole labels only, either way round, case-insensitive.
		{"*.example.com", "badexample.com", false},
		{"*.example.com", "*.a.example.com", true},
		{"*.a.example.com", "*.example.com", true},
		{"*.a.example.com", "*.b.example.com", false},
		{"Test.Example.com", "test.example.COM", true},
		{"a.example.com", "b.example.com", false},
	} {
		if got := hostnamesIntersect(tc.listener, tc.route); got != tc.want {
			t.Errorf("hostnamesIntersect(%q, %q) = %v, want %v", tc.listener, tc.route, got, tc.want)
		}
	}
}

// apiGateway is istio-ingress/public with listeners:
//   - a-https (443, *.a.example.com) for namespace tenant-a (Selector on its name);
//   - shared (443, *.apps.example.com) for every namespace labelled tenant=true;
//   - all (8080, no hostname) for All namespaces, HTTPRoutes only;
//   - same (443, ops.example.com) for its own namespace (Same, the default);
//   - tls (8443, TLS, *.b.example.com) for namespace tenant-b.
func apiGateway() *gatewayv1.Gateway {
	from := func(f gatewayv1.FromNamespaces, sel map[string]string) *gatewayv1.AllowedRoutes {
		ar := &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: ptr.To(f)}}
		if sel != nil {
			ar.Namespaces.Selector = &metav1.LabelSelector{MatchLabels: sel}
		}
		return ar
	}
	host := func(h string) *gatewayv1.Hostname { return ptr.To(gatewayv1.Hostname(h)) }
	all := from(gatewayv1.NamespacesFromAll, nil)
	all.Kinds = []gatewayv1.RouteGroupKind{{Kind: "HTTPRoute"}}
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
		Spec: gatewayv1.GatewaySpec{Listeners: []gatewayv1.Listener{
			{Name: "a-https", Port: 443, Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("*.a.example.com"),
				AllowedRoutes: from(gatewayv1.NamespacesFromSelector, map[string]string{"kubernetes.io/metadata.name": "tenant-a"})},
			{Name: "shared", Port: 443, Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("*.apps.example.com"),
				AllowedRoutes: from(gatewayv1.NamespacesFromSelector, map[string]string{"tenant": "true"})},
			{Name: "all", Port: 8080, Protocol: gatewayv1.HTTPProtocolType, AllowedRoutes: all},
			{Name: "same", Port: 443, Protocol: gatewayv1.HTTPSProtocolType, Hostname: host("ops.example.com")},
			{Name: "tls", Port: 8443, Protocol: gatewayv1.TLSProtocolType, Hostname: host("*.b.example.com"),
				AllowedRoutes: from(gatewayv1.NamespacesFromSelector, map[string]string{"kubernetes.io/metadata.name": "tenant-b"})},
		}},
	}
}

func parentRef(ns, name, section string, port int32) gatewayv1.ParentReference {
	ref := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(name)}
	if ns != "" {
		ref.Namespace = ptr.To(gatewayv1.Namespace(ns))
	}
	if section != "" {
		ref.SectionName = ptr.To(gatewayv1.SectionName(section))
	}
	if port != 0 {
		ref.Port = ptr.To(gatewayv1.PortNumber(port))
	}
	return ref
}

func httpRoute(parents []gatewayv1.ParentReference, hostnames ...string) *gatewayv1.HTTPRoute {
	r := &gatewayv1.HTTPRoute{}
	r.Spec.ParentRefs = parents
	for _, h := range hostnames {
		r.Spec.Hostnames = append(r.Spec.Hostnames, gatewayv1.Hostname(h))
	}
	return r
}

// TestGatewayAPIRoutes: rules 1 and 2 of gateway-hosts on the Gateway API,
// with exact messages.
func TestGatewayAPIRoutes(t *testing.T) {
	idx := NewGatewayAPIIndex()
	idx.SetGateway(apiGateway())
	// tenant-c's route on the shared listener owns web.apps.example.com.
	owner := httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 0)}, "web.apps.example.com", "Web2.apps.example.com")
	idx.SetRoute("HTTPRoute", "tenant-c", "web", owner.Spec.CommonRouteSpec, owner.Spec.Hostnames)
	tenantLabels := map[string]string{"tenant": "true"}
	p := NewGatewayHosts(GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress"}})
	public := []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 0)}
	// On port 443: the All listener (8080, any hostname) left out.
	https := []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 443)}
	for _, tc := range []struct {
		name   string
		ns     string
		labels map[string]string
		route  *gatewayv1.HTTPRoute
		want   []string
	}{
		{"a tenant's own hostname on its listener", "tenant-a", nil, httpRoute(public, "shop.a.example.com"), nil},
		{"a hostname of the shared listener, namespace selected by label", "tenant-b", tenantLabels, httpRoute(public, "b.apps.example.com"), nil},
		{"the All listener without hostname takes any hostname (HTTPRoute)", "tenant-c", nil, httpRoute(public, "anything.example.org"), nil},
		{"another tenant's hostname", "tenant-b", tenantLabels, httpRoute(https, "www.a.example.com"),
			[]string{`spec.hostnames[0]: hostname "www.a.example.com" is not usable by namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: "*.apps.example.com")`}},
		{"through the All listener without hostname, any hostname is usable (ownership is the next rule)", "tenant-b", tenantLabels,
			httpRoute(public, "www.a.example.com"), nil},
		{"sectionName narrows to one listener", "tenant-b", tenantLabels,
			httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "shared", 0)}, "anything.example.org"),
			[]string{`spec.hostnames[0]: hostname "anything.example.org" is not usable by namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: "*.apps.example.com")`}},
		{"port narrows too", "tenant-b", tenantLabels,
			httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 8080)}, "anything.example.org"), nil},
		{"a sectionName that does not exist", "tenant-a", nil,
			httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "nope", 443)}, "shop.a.example.com"),
			[]string{`spec.parentRefs[0]: gateway "istio-ingress/public" has no listener named "nope" on port 443 (listeners: "a-https on 443", "shared on 443", "all on 8080", "same on 443", "tls on 8443")`}},
		{"a wildcard route hostname within the listener's", "tenant-a", nil, httpRoute(https, "*.shop.a.example.com"), nil},
		{"no hostnames: fine on a listener of the namespace alone", "tenant-a", nil, httpRoute(https), nil},
		// Rule 3: ownership on shared listeners (All; a Selector on a label).
		{"a wildcard on a shared listener", "tenant-a", nil, httpRoute(public, "*.shop.a.example.com"),
			[]string{`spec.hostnames[0]: wildcard hostname "*.shop.a.example.com" on listener "all" of gateway "istio-ingress/public", shared by several namespaces, would take hostnames other namespaces may own (use exact hostnames)`}},
		{"no hostnames on a shared listener", "tenant-a", nil, httpRoute(public),
			[]string{`spec.parentRefs[0]: a route without hostnames on listener "all" of gateway "istio-ingress/public", shared by several namespaces, would take every hostname of it (list the hostnames it serves)`}},
		{"a hostname another namespace's route uses", "tenant-b", tenantLabels, httpRoute(https, "web.apps.example.com"),
			[]string{`spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (HTTPRoute tenant-c/web uses it)`}},
		{"the owner's namespace may reuse it", "tenant-c", tenantLabels, httpRoute(https, "web.apps.example.com"), nil},
		{"an unused hostname of the shared listener", "tenant-b", tenantLabels, httpRoute(https, "api.apps.example.com"), nil},
		{"Same: only the gateway's own namespace", "istio-ingress", nil, httpRoute(public, "ops.example.com"), nil},
		{"Same: not a tenant", "tenant-a", nil, httpRoute(https, "ops.example.com"),
			[]string{`spec.hostnames[0]: hostname "ops.example.com" is not usable by namespace "tenant-a" on gateway "istio-ingress/public" (allowed for tenant-a: "*.a.example.com")`}},
		{"a missing parent", "tenant-a", nil, httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "private", "", 0)}, "x.a.example.com"),
			[]string{`spec.parentRefs[0]: gateway "istio-ingress/private" does not exist`}},
		{"a parent outside the gateway namespaces (its own Gateway)", "tenant-a", nil, httpRoute([]gatewayv1.ParentReference{parentRef("", "mine", "", 0)}, "x.a.example.com"),
			[]string{`spec.parentRefs[0]: gateway "tenant-a/mine" is not in a gateway namespace (allowed: Gateways in "istio-ingress")`}},
		{"a Service parent (the mesh) is not an ingress", "tenant-a", nil,
			httpRoute([]gatewayv1.ParentReference{{Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: "reviews"}}, "reviews"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Operation: "CREATE", Namespace: tc.ns, NamespaceLabels: tc.labels, GatewayAPI: idx}
			var got []string
			for _, v := range p.HTTPRoutes().Validate(req, tc.route) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate\n got %q\nwant %q", got, tc.want)
			}
		})
	}

	t.Run("the index forgets replaced and deleted routes", func(t *testing.T) {
		if got := idx.owner("istio-ingress/public", "WEB2.apps.example.com", "tenant-b"); got != "HTTPRoute tenant-c/web" {
			t.Errorf("owner %q (hostnames are case-insensitive)", got)
		}
		r := httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 0)}, "web.apps.example.com")
		idx.SetRoute("HTTPRoute", "tenant-c", "web", r.Spec.CommonRouteSpec, r.Spec.Hostnames)
		if got := idx.owner("istio-ingress/public", "web2.apps.example.com", "tenant-b"); got != "" {
			t.Errorf("a replaced route still owns web2: %q", got)
		}
		idx.DeleteRoute("HTTPRoute", "tenant-c", "web")
		if got := idx.owner("istio-ingress/public", "web.apps.example.com", "tenant-b"); got != "" {
			t.Errorf("a deleted route still owns web: %q", got)
		}
		idx.SetRoute("HTTPRoute", "tenant-c", "web", owner.Spec.CommonRouteSpec, owner.Spec.Hostnames)
	})
	t.Run("GRPCRoute: not on the HTTPRoute-only listener", func(t *testing.T) {
		r := &gatewayv1.GRPCRoute{}
		r.Spec.ParentRefs = []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "all", 0)}
		r.Spec.Hostnames = []gatewayv1.Hostname{"grpc.example.org"}
		got := p.GRPCRoutes().Validate(Request{Namespace: "tenant-c", GatewayAPI: idx}, r)
		want := `spec.hostnames[0]: hostname "grpc.example.org" is not usable by namespace "tenant-c" on gateway "istio-ingress/public" (allowed for tenant-c: none)`
		if len(got) != 1 || got[0].String() != want {
			t.Errorf("got %v, want %s", got, want)
		}
		r.Spec.Hostnames = nil // without hostnames: said of the parent
		got = p.GRPCRoutes().Validate(Request{Namespace: "tenant-c", GatewayAPI: idx}, r)
		want = `spec.parentRefs[0]: no listener of gateway "istio-ingress/public" admits GRPCRoutes from namespace "tenant-c" (its allowedRoutes must name the namespace: ask the platform team)`
		if len(got) != 1 || got[0].String() != want {
			t.Errorf("got %v, want %s", got, want)
		}
	})
	t.Run("TLSRoute on the TLS listener", func(t *testing.T) {
		r := &gatewayv1.TLSRoute{}
		r.Spec.ParentRefs = []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "tls", 0)}
		r.Spec.Hostnames = []gatewayv1.Hostname{"db.b.example.com"}
		if got := p.TLSRoutes().Validate(Request{Namespace: "tenant-b", GatewayAPI: idx}, r); got != nil {
			t.Errorf("got %v", got)
		}
		r.Spec.Hostnames = []gatewayv1.Hostname{"db.a.example.com"}
		want := `spec.hostnames[0]: hostname "db.a.example.com" is not usable by namespace "tenant-b" on gateway "istio-ingress/public" (allowed for tenant-b: "*.b.example.com")`
		if got := p.TLSRoutes().Validate(Request{Namespace: "tenant-b", GatewayAPI: idx}, r); len(got) != 1 || got[0].String() != want {
			t.Errorf("got %v, want %s", got, want)
		}
	})
	t.Run("a tenant Gateway", func(t *testing.T) {
		gw := apiGateway()
		gw.Namespace = "tenant-a"
		want := `metadata.namespace: a Gateway in namespace "tenant-a" could take any hostname on the shared ingress (allowed: Gateways in "istio-ingress", whose listeners admit your namespace's routes)`
		if got := p.APIGateways().Validate(Request{Namespace: "tenant-a"}, gw); len(got) != 1 || got[0].String() != want {
			t.Errorf("got %v, want %s", got, want)
		}
		if got := p.APIGateways().Validate(Request{Namespace: "istio-ingress"}, apiGateway()); got != nil {
			t.Errorf("the ops Gateway: %v", got)
		}
	})
}

// TestGatewayAPIListenerSets: rule 4, ListenerSets attached to the ops
// Gateway, with exact messages.
func TestGatewayAPIListenerSets(t *testing.T) {
	idx := NewGatewayAPIIndex()
	idx.SetGateway(apiGateway())
	owner := httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 0)}, "web.apps.example.com")
	idx.SetRoute("HTTPRoute", "tenant-c", "web", owner.Spec.CommonRouteSpec, owner.Spec.Hostnames)
	p := NewGatewayHosts(GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress"}})
	ls := func(hosts ...string) *gatewayv1.ListenerSet {
		l := &gatewayv1.ListenerSet{}
		l.Spec.ParentRef = gatewayv1.ParentGatewayReference{Name: "public", Namespace: ptr.To(gatewayv1.Namespace("istio-ingress"))}
		for i, h := range hosts {
			e := gatewayv1.ListenerEntry{Name: gatewayv1.SectionName("l" + string(rune('0'+i))), Port: 443, Protocol: gatewayv1.HTTPSProtocolType}
			if h != "" {
				e.Hostname = ptr.To(gatewayv1.Hostname(h))
			}
			l.Spec.Listeners = append(l.Spec.Listeners, e)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		ns   string
		set  *gatewayv1.ListenerSet
		want []string
	}{
		{"tenant-a's custom domain under its listener", "tenant-a", ls("shop.a.example.com", "*.eu.a.example.com"), nil},
		{"a wildcard granted only by the shared All listener", "tenant-a", ls("*.example.com"),
			[]string{`spec.listeners[0].hostname: wildcard hostname "*.example.com" is granted only by listener "all" of gateway "istio-ingress/public", shared by several namespaces: it would take hostnames other namespaces may own (use exact hostnames)`}},
		{"wider than granted (tenant-b: the TLS listener and the shared ones)", "tenant-b", ls("*.c.example.org"),
			[]string{`spec.listeners[0].hostname: wildcard hostname "*.c.example.org" is granted only by listener "all" of gateway "istio-ingress/public", shared by several namespaces: it would take hostnames other namespaces may own (use exact hostnames)`}},
		{"another tenant's hostname (through the All listener it is granted, but owned)", "tenant-a", ls("web.apps.example.com"),
			[]string{`spec.listeners[0].hostname: hostname "web.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (HTTPRoute tenant-c/web uses it)`}},
		{"no hostname outside the gateway namespaces", "tenant-a", ls(""),
			[]string{`spec.listeners[0].hostname: listener "l0" has no hostname, so it would take every hostname of gateway "istio-ingress/public" (allowed for tenant-a: "*", "*.a.example.com")`}},
		{"no hostname in a gateway namespace", "istio-ingress", ls(""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range p.ListenerSets().Validate(Request{Namespace: tc.ns, GatewayAPI: idx}, tc.set) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	// On a Gateway without the All listener, what is not granted is refused.
	strict := apiGateway()
	strict.Name = "strict"
	strict.Spec.Listeners = slices.DeleteFunc(strict.Spec.Listeners, func(l gatewayv1.Listener) bool { return l.Name == "all" })
	idx.SetGateway(strict)
	wide := ls("*.example.com")
	wide.Spec.ParentRef.Name = "strict"
	want0 := `spec.listeners[0].hostname: hostname "*.example.com" is not usable by namespace "tenant-a" on gateway "istio-ingress/strict" (allowed for tenant-a: "*.a.example.com")`
	if got := p.ListenerSets().Validate(Request{Namespace: "tenant-a", GatewayAPI: idx}, wide); len(got) != 1 || got[0].String() != want0 {
		t.Errorf("got %v, want %s", got, want0)
	}

	// A ListenerSet's hostnames are owned like a route's.
	mine := ls("mine.apps.example.com")
	common, hosts := ListenerSetRoutes(mine)
	idx.SetRoute("ListenerSet", "tenant-a", "mine", common, hosts)
	got := p.HTTPRoutes().Validate(Request{Namespace: "tenant-b", NamespaceLabels: map[string]string{"tenant": "true"}, GatewayAPI: idx},
		httpRoute([]gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 443)}, "mine.apps.example.com"))
	want := `spec.hostnames[0]: hostname "mine.apps.example.com" on gateway "istio-ingress/public" belongs to another namespace (ListenerSet tenant-a/mine uses it)`
	if len(got) != 1 || got[0].String() != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestGatewayAPIGatewayChange: rule 5, a Gateway change that takes
// hostnames from routes is admitted with a warning naming them.
func TestGatewayAPIGatewayChange(t *testing.T) {
	idx := NewGatewayAPIIndex()
	idx.SetGateway(apiGateway())
	idx.SetNamespaceLabels("tenant-b", map[string]string{"tenant": "true"})
	https := []gatewayv1.ParentReference{parentRef("istio-ingress", "public", "", 443)}
	for _, r := range []struct{ ns, name, host string }{
		{"tenant-a", "shop", "shop.a.example.com"},
		{"tenant-b", "api", "api.apps.example.com"},
		{"tenant-a", "other", "x.example.org"}, // never usable on 443: nothing to lose
	} {
		route := httpRoute(https, r.host)
		idx.SetRoute("HTTPRoute", r.ns, r.name, route.Spec.CommonRouteSpec, route.Spec.Hostnames)
	}
	p := NewGatewayHosts(GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress"}})
	w, ok := p.APIGateways().(Warner[*gatewayv1.Gateway])
	if !ok {
		t.Fatal("the Gateway API Gateway validator does not warn")
	}
	changed := apiGateway()
	changed.Spec.Listeners[0].Hostname = ptr.To(gatewayv1.Hostname("*.a2.example.com"))                         // tenant-a's
	changed.Spec.Listeners[1].AllowedRoutes.Namespaces.Selector.MatchLabels = map[string]string{"tier": "gold"} // the shared one
	got := w.Warn(Request{Operation: "UPDATE", Namespace: "istio-ingress", Name: "public", GatewayAPI: idx}, changed)
	want := []string{
		`this change takes "shop.a.example.com" from HTTPRoute "tenant-a/shop" (no longer usable by tenant-a)`,
		`this change takes "api.apps.example.com" from HTTPRoute "tenant-b/api" (no longer usable by tenant-b)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Warn\n got %q\nwant %q", got, want)
	}
	if got := w.Warn(Request{Namespace: "istio-ingress", Name: "public", GatewayAPI: idx}, apiGateway()); got != nil {
		t.Errorf("an unchanged Gateway warns %q", got)
	}
}
