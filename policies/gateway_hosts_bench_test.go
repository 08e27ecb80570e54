package policies

import (
	"fmt"
	"testing"
)

// gatewayHostsBenchIndex is a cluster with about n authorized hosts: half on
// istio-ingress/public (tenant-a's, including "*.a.example.com", and
// tenant-b's), half on n/20 other Gateways of 10 hosts each.
func gatewayHostsBenchIndex(n int) *GatewayIndex {
	idx := NewGatewayIndex()
	hosts := []string{"tenant-a/*.a.example.com", "tenant-a/a.example.com"}
	for i := len(hosts); i < n/2; i++ {
		tenant := []string{"tenant-a", "tenant-b"}[i%2]
		hosts = append(hosts, fmt.Sprintf("%s/h%05d.%s.example.com", tenant, i, tenant[len(tenant)-1:]))
	}
	idx.SetGateway(gateway("istio-ingress", "public", hosts...))
	for g := range max(1, n/20) {
		var other []string
		for i := range 10 {
			other = append(other, fmt.Sprintf("tenant-%d/h%d.t%d.example.com", g, i, g))
		}
		idx.SetGateway(gateway("istio-ingress", fmt.Sprintf("gw-%04d", g), other...))
	}
	return idx
}

// BenchmarkGatewayHosts checks a VirtualService of three hosts on one
// Gateway, allowed and denied, with 10 and 10,000 authorized hosts in the
// cluster: the cost must be about the same.
func BenchmarkGatewayHosts(b *testing.B) {
	p := NewGatewayHosts(gatewayHostsTestConfig(false)).VirtualServices()
	cases := []struct {
		name  string
		hosts []string
		want  int
	}{
		{"allowed", []string{"a.example.com", "shop.a.example.com", "api.eu.shop.a.example.com"}, 0},
		{"denied", []string{"a.example.com", "shop.b.example.com", "api.eu.shop.a.example.com"}, 1},
	}
	for _, c := range cases {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/hosts=%d", c.name, n), func(b *testing.B) {
				req := Request{Operation: "CREATE", Namespace: "tenant-a", Name: "web", Gateways: gatewayHostsBenchIndex(n)}
				vs := virtualService("tenant-a", []string{"istio-ingress/public"}, c.hosts, nil)
				b.ReportAllocs()
				for b.Loop() {
					if got := p.Validate(req, vs); len(got) != c.want {
						b.Fatalf("%d violations, want %d: %v", len(got), c.want, got)
					}
				}
			})
		}
	}
}
