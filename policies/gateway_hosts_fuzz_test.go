package policies

import (
	"strings"
	"testing"

	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzGatewayHostMatching: the indexed host matching of gateway-hosts (two
// maps, one look-up per label) against a plain reading of Istio's rules, on
// any Gateway hosts (one per line, in "namespace/host" syntax), namespace
// and VirtualService host. Also: every host the denial lists as allowed
// is authorized. The seed corpus is in testdata/fuzz/FuzzGatewayHostMatching.
func FuzzGatewayHostMatching(f *testing.F) {
	for _, s := range []struct {
		hosts, ns, host string
		explicit        bool
	}{
		{"tenant-a/a.example.com\ntenant-a/*.a.example.com", "tenant-a", "x.a.example.com", false},
		{"tenant-a/*.a.example.com", "tenant-a", "a.example.com", false},
		{"tenant-a/*.a.example.com", "tenant-a", "*.example.com", false},
		{"tenant-a/*.a.example.com", "tenant-a", "*.x.a.example.com", false},
		{"./ops.example.com\n*/status.example.com\npublic.example.com", "istio-ingress", "public.example.com", true},
		{"*/status.example.com", "tenant-b", "status.example.com", true},
		{"tenant-c/Shop.C.example.com", "tenant-c", "shop.c.EXAMPLE.com", false},
		{"tenant-d/*", "tenant-d", "*", false},
		{"tenant-e/*.", "tenant-e", "a.", false},
		{"/x\na//b\nns/\n*.*.example.com", "ns", "*.*.example.com", false},
	} {
		f.Add(s.hosts, s.ns, s.host, s.explicit)
	}
	f.Fuzz(func(t *testing.T, hosts, ns, host string, explicit bool) {
		gw := &istionetworkingv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "istio-ingress"},
			Spec: istioapiv1alpha3.Gateway{Servers: []*istioapiv1alpha3.Server{
				{Hosts: strings.Split(hosts, "\n")},
			}},
		}
		idx := NewGatewayIndex()
		idx.SetGateway(gw)
		auth := idx.gateway("istio-ingress/public")
		if auth == nil {
			t.Fatal("the Gateway is not in the index")
		}
		got := auth.authorizes(ns, parseHost(host), explicit)
		if want := plainAuthorizes(gw, ns, host, explicit); got != want {
			t.Fatalf("gateway hosts %q, namespace %q, host %q, requireExplicitNamespace %v: authorized %v, want %v",
				gw.Spec.Servers[0].Hosts, ns, host, explicit, got, want)
		}
		first, total := auth.allowed(ns, explicit, gatewayHostsListed)
		if len(first) > gatewayHostsListed || total < len(first) {
			t.Fatalf("allowed %q of %d", first, total)
		}
		for _, h := range first {
			if !auth.authorizes(ns, parseHost(h), explicit) {
				t.Fatalf("%q is listed as allowed for %q but not authorized", h, ns)
			}
		}
	})
}

// plainAuthorizes reads the Gateway's hosts one by one, as Istio's
// documentation states the rules: "ns/host" is for namespace ns, "./host"
// for the Gateway's namespace, "*/host" and "host" for any namespace (the
// Gateway's own only with requireExplicitNamespace); "*" covers every host,
// "*.suffix" every name ending in ".suffix" (and wildcards below it), an
// exact host only itself; host names are case-insensitive.
func plainAuthorizes(gw *istionetworkingv1.Gateway, ns, host string, requireExplicit bool) bool {
	host = strings.ToLower(host)
	for _, entry := range gw.Spec.Servers[0].Hosts {
		entryNS, pattern, found := strings.Cut(entry, "/")
		if !found {
			entryNS, pattern = "*", entry
		}
		if entryNS == "." {
			entryNS = gw.Namespace
		}
		if entryNS == "" || pattern == "" || strings.Contains(pattern, "/") {
			continue // not a host Istio accepts
		}
		forNS := entryNS == ns || (entryNS == "*" && (!requireExplicit || ns == gw.Namespace))
		if forNS && plainCovers(strings.ToLower(pattern), host) {
			return true
		}
	}
	return false
}

func plainCovers(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case host == "*":
		return false
	case strings.HasPrefix(pattern, "*."):
		suffix := pattern[1:] // ".a.example.com"
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			return rest == suffix[1:] || strings.HasSuffix(rest, suffix)
		}
		return strings.HasSuffix(host, suffix)
	}
	return pattern == host
}
