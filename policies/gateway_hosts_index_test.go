package policies

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

func TestGatewayIndexGateways(t *testing.T) {
	idx := NewGatewayIndex()
	idx.SetGateway(gateway("istio-ingress", "public", "tenant-a/a.example.com"))
	idx.SetGateway(gateway("istio-ingress", "internal"))
	idx.SetGateway(gateway("istio-ingress", "public", "tenant-b/b.example.com")) // replaced, listed once
	idx.SetGateway(gateway("", "dev"))                                           // no namespace: default
	if got, want := idx.gatewayNames("istio-ingress"), []string{"internal", "public"}; !reflect.DeepEqual(got, want) {
		t.Errorf("gatewayNames(istio-ingress) = %q, want %q", got, want)
	}
	if got, want := idx.gatewayNames("default"), []string{"dev"}; !reflect.DeepEqual(got, want) {
		t.Errorf("gatewayNames(default) = %q, want %q", got, want)
	}
	gw := idx.gateway("istio-ingress/public")
	if gw == nil {
		t.Fatal("gateway istio-ingress/public not found")
	}
	if gw.authorizes("tenant-a", parseHost("a.example.com"), false) || !gw.authorizes("tenant-b", parseHost("b.example.com"), false) {
		t.Errorf("the replaced gateway's hosts are not the new ones: %+v", gw.hosts)
	}

	held := idx.gatewayNames("istio-ingress")
	idx.DeleteGateway("istio-ingress", "internal")
	idx.DeleteGateway("istio-ingress", "missing") // no-op
	if got, want := idx.gatewayNames("istio-ingress"), []string{"public"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after delete, gatewayNames = %q, want %q", got, want)
	}
	if want := []string{"internal", "public"}; !reflect.DeepEqual(held, want) {
		t.Errorf("a slice a reader held changed under it: %q", held)
	}
	if idx.gateway("istio-ingress/internal") != nil {
		t.Error("deleted gateway still found")
	}
	idx.DeleteGateway("istio-ingress", "public")
	if _, ok := idx.names["istio-ingress"]; ok || len(idx.gateways) != 1 {
		t.Errorf("empty namespace left behind: names %v, gateways %v", idx.names, idx.gateways)
	}
}

func TestGatewayIndexVirtualServices(t *testing.T) {
	idx := NewGatewayIndex()
	keys := func(gw string) []string {
		var out []string
		for _, vs := range idx.boundTo(gw) {
			out = append(out, fmt.Sprintf("%s/%s %q", vs.namespace, vs.name, vs.hosts))
		}
		return out
	}
	vs := virtualService("tenant-a", []string{"istio-ingress/public", "mesh", "public.istio-ingress", "internal"}, []string{"a.example.com"}, nil)
	idx.SetVirtualService(vs)
	idx.SetVirtualService(virtualService("tenant-b", []string{"istio-ingress/public"}, []string{"b.example.com"}, nil))
	if got, want := keys("istio-ingress/public"), []string{`tenant-a/web ["a.example.com"]`, `tenant-b/web ["b.example.com"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("bound to public: %q, want %q", got, want)
	}
	if got, want := keys("tenant-a/internal"), []string{`tenant-a/web ["a.example.com"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("bound to tenant-a/internal: %q, want %q", got, want)
	}
	if got := keys("tenant-a/mesh"); got != nil {
		t.Errorf("mesh indexed as a gateway: %q", got)
	}

	// Rebound: moves from public to internal, with new hosts.
	idx.SetVirtualService(virtualService("tenant-a", []string{"istio-ingress/internal"}, []string{"x.a.example.com"}, nil))
	if got, want := keys("istio-ingress/public"), []string{`tenant-b/web ["b.example.com"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("after rebinding, bound to public: %q, want %q", got, want)
	}
	if got, want := keys("istio-ingress/internal"), []string{`tenant-a/web ["x.a.example.com"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("after rebinding, bound to internal: %q, want %q", got, want)
	}
	if got := keys("tenant-a/internal"); got != nil {
		t.Errorf("after rebinding, still bound to tenant-a/internal: %q", got)
	}

	idx.DeleteVirtualService("tenant-a", "web")
	idx.DeleteVirtualService("tenant-b", "web")
	if len(idx.bound) != 0 || len(idx.refs) != 0 {
		t.Errorf("after delete: bound %v refs %v", idx.bound, idx.refs)
	}
}

func TestGatewayIndexNil(t *testing.T) {
	var idx *GatewayIndex
	if idx.gateway("istio-ingress/public") != nil || idx.gatewayNames("istio-ingress") != nil || idx.boundTo("istio-ingress/public") != nil {
		t.Error("a nil index is not empty")
	}
}

// TestGatewayIndexConcurrent is for the race detector: informer events write
// while requests read.
func TestGatewayIndexConcurrent(t *testing.T) {
	idx := NewGatewayIndex()
	p := NewGatewayHosts(gatewayHostsTestConfig(false))
	vs := virtualService("tenant-a", []string{"istio-ingress/public"}, []string{"shop.b.example.com"}, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			idx.SetGateway(gateway("istio-ingress", "public", fmt.Sprintf("tenant-a/h%d.a.example.com", i)))
			idx.SetVirtualService(virtualService("tenant-a", []string{"istio-ingress/public"}, []string{"a.example.com"}, nil))
			if i%2 == 0 {
				idx.DeleteGateway("istio-ingress", "public")
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			p.VirtualServices().Validate(Request{Namespace: "tenant-a", Gateways: idx}, vs)
			p.Gateways().(Warner[*istionetworkingv1.Gateway]).Warn(Request{Namespace: "istio-ingress", Gateways: idx}, gateway("istio-ingress", "public"))
		}
	}()
	wg.Wait()
}

func TestResolveGatewayRef(t *testing.T) {
	for ref, want := range map[string]string{
		"public":                                 "tenant-a/public",
		"./public":                               "tenant-a/public",
		"istio-ingress/public":                   "istio-ingress/public",
		"public.istio-ingress":                   "istio-ingress/public",
		"public.istio-ingress.svc.cluster.local": "istio-ingress/public",
	} {
		if got := resolveGatewayRef(ref, "tenant-a"); got != want {
			t.Errorf("resolveGatewayRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestHostSetCovers(t *testing.T) {
	set := &hostSet{exact: map[string]struct{}{}, wildcard: map[string]struct{}{}}
	for _, h := range []string{"a.example.com", "*.a.example.com", "Exact.Example.org"} {
		set.add(parseHost(h))
	}
	for host, want := range map[string]bool{
		"a.example.com":       true,
		"A.Example.COM":       true,
		"x.a.example.com":     true,
		"y.x.a.example.com":   true,
		"*.a.example.com":     true,
		"*.x.a.example.com":   true,
		"exact.example.org":   true,
		"example.com":         false,
		"*.example.com":       false,
		"xa.example.com":      false,
		"a.example.com.evil":  false,
		"*":                   false,
		"x.exact.example.org": false,
		"*.exact.example.org": false,
	} {
		if got := set.covers(parseHost(host)); got != want {
			t.Errorf("covers(%q) = %v, want %v", host, got, want)
		}
	}
	all := &hostSet{exact: map[string]struct{}{}, wildcard: map[string]struct{}{}}
	all.add(parseHost("*"))
	if !all.covers(parseHost("*")) || !all.covers(parseHost("any.example.com")) {
		t.Error(`"*" does not cover everything`)
	}
	var none *hostSet
	if none.covers(parseHost("a.example.com")) {
		t.Error("a nil set covers a host")
	}
}
