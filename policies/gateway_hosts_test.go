package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"

	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// gatewayHostsFixture reads testdata/gateway-hosts/gateways.yaml: the
// Gateways istio-ingress/public, istio-ingress/internal and tenant-d/legacy.
func gatewayHostsFixture(t testing.TB) *GatewayIndex {
	t.Helper()
	data, err := os.ReadFile("testdata/gateway-hosts/gateways.yaml")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewGatewayIndex()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		gw := &istionetworkingv1.Gateway{}
		if err := dec.Decode(gw); errors.Is(err, io.EOF) {
			return idx
		} else if err != nil {
			t.Fatal(err)
		}
		idx.SetGateway(gw)
	}
}

func gatewayHostsTestConfig(requireExplicit bool) GatewayHostsConfig {
	cfg := GatewayHostsConfig{RequireExplicitNamespace: requireExplicit}
	cfg.Default()
	return cfg
}

func virtualService(ns string, gateways, hosts, exportTo []string) *istionetworkingv1.VirtualService {
	return &istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       istioapiv1alpha3.VirtualService{Gateways: gateways, Hosts: hosts, ExportTo: exportTo},
	}
}

func TestGatewayHostsName(t *testing.T) {
	p := NewGatewayHosts(gatewayHostsTestConfig(false))
	if got := p.VirtualServices().Name(); got != "gateway-hosts" {
		t.Errorf("VirtualServices().Name() = %q", got)
	}
	if got := p.Gateways().Name(); got != "gateway-hosts" {
		t.Errorf("Gateways().Name() = %q", got)
	}
}

func TestGatewayHostsVirtualServices(t *testing.T) {
	idx := gatewayHostsFixture(t)
	const (
		public      = "istio-ingress/public"
		internal    = "istio-ingress/internal"
		allowedA    = `(allowed for tenant-a: "a.example.com", "*.a.example.com", "public.example.com", "status.example.com")`
		meshAllowed = `(allowed: hosts of namespace "tenant-a", or exportTo: ["."] to route only this namespace's calls)`
	)
	tests := []struct {
		name            string
		requireExplicit bool
		noIndex         bool
		ns              string
		gateways        []string
		hosts           []string
		exportTo        []string
		want            []string
	}{
		{
			name:     "own host",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"a.example.com"},
		},
		{
			name:     "hosts under an authorized wildcard",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"shop.a.example.com", "y.x.a.example.com", "*.a.example.com", "*.x.a.example.com"},
		},
		{
			name:     "a wildcard covers neither its own name nor a wider wildcard",
			ns:       "tenant-e",
			gateways: []string{public},
			hosts:    []string{"e.example.com", "x.e.example.com", "*.example.com", "*"},
			want: []string{
				`spec.hosts[0]: host "e.example.com" is not authorized for namespace "tenant-e" on gateway "istio-ingress/public" (allowed for tenant-e: "*.e.example.com", "public.example.com", "status.example.com")`,
				`spec.hosts[2]: host "*.example.com" is not authorized for namespace "tenant-e" on gateway "istio-ingress/public" (allowed for tenant-e: "*.e.example.com", "public.example.com", "status.example.com")`,
				`spec.hosts[3]: host "*" is not authorized for namespace "tenant-e" on gateway "istio-ingress/public" (allowed for tenant-e: "*.e.example.com", "public.example.com", "status.example.com")`,
			},
		},
		{
			name:     "another tenant's host",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"shop.b.example.com"},
			want: []string{
				`spec.hosts[0]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "another tenant's exact host",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"b.example.com"},
			want: []string{
				`spec.hosts[0]: host "b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "./ host in the gateway's own namespace",
			ns:       "istio-ingress",
			gateways: []string{"public"},
			hosts:    []string{"ops.example.com"},
		},
		{
			name:     "./ host from a tenant",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"ops.example.com"},
			want: []string{
				`spec.hosts[0]: host "ops.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "*/ host and bare host: any namespace",
			ns:       "tenant-c",
			gateways: []string{public},
			hosts:    []string{"status.example.com", "public.example.com"},
		},
		{
			name:            "*/ host and bare host with requireExplicitNamespace: ops only",
			requireExplicit: true,
			ns:              "tenant-c",
			gateways:        []string{public},
			hosts:           []string{"status.example.com", "public.example.com", "shop.c.example.com"},
			want: []string{
				`spec.hosts[0]: host "status.example.com" is not authorized for namespace "tenant-c" on gateway "istio-ingress/public" (allowed for tenant-c: "shop.c.example.com")`,
				`spec.hosts[1]: host "public.example.com" is not authorized for namespace "tenant-c" on gateway "istio-ingress/public" (allowed for tenant-c: "shop.c.example.com")`,
			},
		},
		{
			name:            "*/ host and bare host with requireExplicitNamespace, from the gateway's namespace",
			requireExplicit: true,
			ns:              "istio-ingress",
			gateways:        []string{"public"},
			hosts:           []string{"status.example.com", "public.example.com", "ops.example.com"},
		},
		{
			name:     "host case does not matter, the message keeps the VirtualService's",
			ns:       "tenant-c",
			gateways: []string{public},
			hosts:    []string{"shop.c.example.com", "SHOP.C.Example.COM", "Shop.B.example.com"},
			want: []string{
				`spec.hosts[2]: host "Shop.B.example.com" is not authorized for namespace "tenant-c" on gateway "istio-ingress/public" (allowed for tenant-c: "public.example.com", "shop.c.example.com", "status.example.com")`,
			},
		},
		{
			name:     "namespace with no host on the gateway",
			ns:       "tenant-z",
			gateways: []string{internal},
			hosts:    []string{"z.example.com"},
			want: []string{
				`spec.hosts[0]: host "z.example.com" is not authorized for namespace "tenant-z" on gateway "istio-ingress/internal" (allowed for tenant-z: none)`,
			},
		},
		{
			name:     "ns/* authorizes every host, * included",
			ns:       "tenant-b",
			gateways: []string{internal},
			hosts:    []string{"anything.example.org", "*.example.org", "*"},
		},
		{
			name:     "long allowed lists are cut after five",
			ns:       "tenant-f",
			gateways: []string{public},
			hosts:    []string{"f8.example.com"},
			want: []string{
				`spec.hosts[0]: host "f8.example.com" is not authorized for namespace "tenant-f" on gateway "istio-ingress/public" (allowed for tenant-f: "f1.example.com", "f2.example.com", "*.f2.example.com", "f3.example.com", "f4.example.com" and 5 more)`,
			},
		},
		{
			name:     "missing gateway, long reference",
			ns:       "tenant-a",
			gateways: []string{"istio-ingress/publc"},
			hosts:    []string{"a.example.com"},
			want: []string{
				`spec.gateways[0]: gateway "istio-ingress/publc" does not exist (existing gateways: "istio-ingress/internal", "istio-ingress/public")`,
			},
		},
		{
			name:     "missing gateway, short reference resolved in the VirtualService's namespace",
			ns:       "tenant-a",
			gateways: []string{"public"},
			hosts:    []string{"shop.b.example.com"},
			want: []string{
				`spec.gateways[0]: gateway "tenant-a/public" does not exist (existing gateways: "istio-ingress/internal", "istio-ingress/public")`,
			},
		},
		{
			name:     "missing gateway in a namespace that has others",
			ns:       "tenant-a",
			gateways: []string{"tenant-d/legacy-v2"},
			hosts:    []string{"a.example.com"},
			want: []string{
				`spec.gateways[0]: gateway "tenant-d/legacy-v2" does not exist (existing gateways: "tenant-d/legacy")`,
			},
		},
		{
			name:     "no gateway known at all",
			noIndex:  true,
			ns:       "tenant-a",
			gateways: []string{public, "mesh"},
			hosts:    []string{"a.example.com", "reviews.tenant-b"},
			want: []string{
				`spec.gateways[0]: gateway "istio-ingress/public" does not exist (existing gateways: none)`,
				`spec.hosts[1]: host "reviews.tenant-b" is a service of namespace "tenant-b" and would intercept its calls in the mesh ` + meshAllowed,
			},
		},
		{
			name:     "short, ./ and legacy gateway references",
			ns:       "tenant-d",
			gateways: []string{"legacy", "./legacy", "legacy.tenant-d", "legacy.tenant-d.svc.cluster.local"},
			hosts:    []string{"d.example.com"},
		},
		{
			name:     "legacy reference to another namespace's gateway",
			ns:       "tenant-a",
			gateways: []string{"public.istio-ingress.svc.cluster.local"},
			hosts:    []string{"a.example.com", "d.example.com"},
			want: []string{
				`spec.hosts[1]: host "d.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "several hosts, one bad",
			ns:       "tenant-a",
			gateways: []string{public},
			hosts:    []string{"a.example.com", "shop.b.example.com", "www.a.example.com"},
			want: []string{
				`spec.hosts[1]: host "shop.b.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "two gateways: every host on each",
			ns:       "tenant-a",
			gateways: []string{public, internal, "istio-ingress/public"},
			hosts:    []string{"a.example.com", "api.internal.example.com"},
			want: []string{
				`spec.hosts[0]: host "a.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/internal" (allowed for tenant-a: "api.internal.example.com", "web.tenant-a.svc.cluster.local")`,
				`spec.hosts[1]: host "api.internal.example.com" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "short host resolved to the namespace's service",
			ns:       "tenant-a",
			gateways: []string{internal},
			hosts:    []string{"web"},
		},
		{
			name:  "mesh-bound: own services and external hosts",
			ns:    "tenant-a",
			hosts: []string{"reviews", "reviews.tenant-a", "reviews.tenant-a.svc.cluster.local", "*.tenant-a.svc.cluster.local", "api.example.com", "*.example.com", "10.0.0.1", "tenant-b.svc.cluster.local"},
		},
		{
			name:  "mesh-bound: another namespace's service hosts and *",
			ns:    "tenant-a",
			hosts: []string{"reviews.team-b.svc.cluster.local", "reviews.team-b", "reviews.team-b.svc", "*.team-b", "*.team-b.svc.cluster.local", "*", "*.svc.cluster.local", "*.cluster.local", "*.svc", "web-0.web.team-b.svc.cluster.local"},
			want: []string{
				`spec.hosts[0]: host "reviews.team-b.svc.cluster.local" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[1]: host "reviews.team-b" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[2]: host "reviews.team-b.svc" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[3]: host "*.team-b" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[4]: host "*.team-b.svc.cluster.local" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[5]: host "*" would intercept the calls of every namespace in the mesh ` + meshAllowed,
				`spec.hosts[6]: host "*.svc.cluster.local" covers the services of every namespace and would intercept their calls in the mesh ` + meshAllowed,
				`spec.hosts[7]: host "*.cluster.local" covers the services of every namespace and would intercept their calls in the mesh ` + meshAllowed,
				`spec.hosts[8]: host "*.svc" covers the services of every namespace and would intercept their calls in the mesh ` + meshAllowed,
				`spec.hosts[9]: host "web-0.web.team-b.svc.cluster.local" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
			},
		},
		{
			name:     "explicit mesh with a gateway: both checked",
			ns:       "tenant-a",
			gateways: []string{"mesh", public},
			hosts:    []string{"a.example.com", "reviews.team-b"},
			want: []string{
				`spec.hosts[1]: host "reviews.team-b" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
				`spec.hosts[1]: host "reviews.team-b" is not authorized for namespace "tenant-a" on gateway "istio-ingress/public" ` + allowedA,
			},
		},
		{
			name:     "gateway-bound only: mesh rule does not apply",
			ns:       "tenant-b",
			gateways: []string{internal},
			hosts:    []string{"reviews.team-c.svc.cluster.local"},
		},
		{
			name:     "mesh-bound, exported to its own namespace only",
			ns:       "tenant-a",
			hosts:    []string{"reviews.team-b.svc.cluster.local", "*"},
			exportTo: []string{".", "tenant-a"},
		},
		{
			name:     "mesh-bound, exported further",
			ns:       "tenant-a",
			hosts:    []string{"reviews.team-b"},
			exportTo: []string{".", "team-c"},
			want: []string{
				`spec.hosts[0]: host "reviews.team-b" is a service of namespace "team-b" and would intercept its calls in the mesh ` + meshAllowed,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := virtualService(tt.ns, tt.gateways, tt.hosts, tt.exportTo)
			before := vs.DeepCopy()
			req := Request{Operation: "CREATE", Namespace: tt.ns, Name: "web", Gateways: idx}
			if tt.noIndex {
				req.Gateways = nil
			}
			var got []string
			for _, v := range NewGatewayHosts(gatewayHostsTestConfig(tt.requireExplicit)).VirtualServices().Validate(req, vs) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() violations:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(vs, before) {
				t.Errorf("Validate() changed the VirtualService")
			}
		})
	}
}

func gateway(ns, name string, hosts ...string) *istionetworkingv1.Gateway {
	return &istionetworkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: istioapiv1alpha3.Gateway{
			Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*istioapiv1alpha3.Server{{
				Port:  &istioapiv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"},
				Hosts: hosts,
			}},
		},
	}
}

func TestGatewayHostsGateways(t *testing.T) {
	tests := []struct {
		name       string
		namespaces []string
		ns         string
		want       []string
	}{
		{name: "ops gateway in istio-ingress", ns: "istio-ingress"},
		{
			name: "tenant gateway",
			ns:   "tenant-a",
			want: []string{`metadata.namespace: a Gateway in namespace "tenant-a" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-ingress", where the platform team authorizes your hosts as "tenant-a/<host>")`},
		},
		{name: "configured gateway namespace", namespaces: []string{"istio-ingress", "istio-egress"}, ns: "istio-egress"},
		{
			name:       "tenant gateway, several gateway namespaces listed sorted",
			namespaces: []string{"istio-ingress", "istio-egress"},
			ns:         "istio-ingress-tenant",
			want:       []string{`metadata.namespace: a Gateway in namespace "istio-ingress-tenant" could select the shared ingress pods and serve any host (allowed: Gateways in "istio-egress", "istio-ingress", where the platform team authorizes your hosts as "istio-ingress-tenant/<host>")`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := GatewayHostsConfig{GatewayNamespaces: tt.namespaces}
			cfg.Default()
			gw := gateway(tt.ns, "own", "tenant-a/a.example.com")
			var got []string
			for _, v := range NewGatewayHosts(cfg).Gateways().Validate(Request{Operation: "CREATE", Namespace: tt.ns, Name: "own"}, gw) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() violations:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestGatewayHostsGatewayChangeWarns(t *testing.T) {
	newIndex := func() *GatewayIndex {
		idx := NewGatewayIndex()
		idx.SetGateway(gateway("istio-ingress", "public",
			"tenant-a/a.example.com", "tenant-a/*.a.example.com", "tenant-b/b.example.com", "status.example.com"))
		idx.SetGateway(gateway("istio-ingress", "internal", "tenant-a/*.a.example.com"))
		for _, vs := range []*istionetworkingv1.VirtualService{
			virtualService("tenant-a", []string{"istio-ingress/public"}, []string{"shop.a.example.com", "a.example.com", "www.a.example.com"}, nil),
			virtualService("tenant-b", []string{"istio-ingress/public", "mesh"}, []string{"b.example.com", "status.example.com"}, nil),
			// Already unauthorized: the change takes nothing from it.
			virtualService("tenant-c", []string{"istio-ingress/public"}, []string{"shop.a.example.com"}, nil),
			// Bound to the other gateway only.
			virtualService("tenant-a", []string{"istio-ingress/internal"}, []string{"api.a.example.com"}, nil),
		} {
			if vs.Namespace == "tenant-a" && vs.Spec.Gateways[0] == "istio-ingress/internal" {
				vs.Name = "api"
			}
			idx.SetVirtualService(vs)
		}
		return idx
	}
	p := NewGatewayHosts(gatewayHostsTestConfig(false))
	w := p.Gateways().(Warner[*istionetworkingv1.Gateway])
	tests := []struct {
		name string
		gw   *istionetworkingv1.Gateway
		want []string
	}{
		{
			name: "unchanged",
			gw:   gateway("istio-ingress", "public", "tenant-a/a.example.com", "tenant-a/*.a.example.com", "tenant-b/b.example.com", "status.example.com"),
		},
		{
			name: "a host added",
			gw:   gateway("istio-ingress", "public", "tenant-a/a.example.com", "tenant-a/*.a.example.com", "tenant-b/b.example.com", "status.example.com", "tenant-c/c.example.com"),
		},
		{
			name: "a wildcard narrowed and a bare host made explicit",
			gw:   gateway("istio-ingress", "public", "tenant-a/a.example.com", "tenant-a/shop.a.example.com", "tenant-b/b.example.com", "tenant-a/status.example.com"),
			want: []string{
				`this change unbinds "www.a.example.com" of VirtualService "tenant-a/web" (no longer authorized for tenant-a)`,
				`this change unbinds "status.example.com" of VirtualService "tenant-b/web" (no longer authorized for tenant-b)`,
			},
		},
		{
			name: "every host removed",
			gw:   gateway("istio-ingress", "public"),
			want: []string{
				`this change unbinds "shop.a.example.com", "a.example.com", "www.a.example.com" of VirtualService "tenant-a/web" (no longer authorized for tenant-a)`,
				`this change unbinds "b.example.com", "status.example.com" of VirtualService "tenant-b/web" (no longer authorized for tenant-b)`,
			},
		},
		{
			name: "a gateway not known before",
			gw:   gateway("istio-ingress", "new"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := newIndex()
			got := w.Warn(Request{Operation: "UPDATE", Namespace: "istio-ingress", Name: tt.gw.Name, Gateways: idx}, tt.gw)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Warn():\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	t.Run("many virtual services, many hosts", func(t *testing.T) {
		idx := NewGatewayIndex()
		idx.SetGateway(gateway("istio-ingress", "public", "*/*"))
		for i := range 12 {
			vs := virtualService(fmt.Sprintf("tenant-%02d", i), []string{"istio-ingress/public"}, []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com", "e.example.com"}, nil)
			idx.SetVirtualService(vs)
		}
		got := w.Warn(Request{Operation: "UPDATE", Namespace: "istio-ingress", Name: "public", Gateways: idx}, gateway("istio-ingress", "public", "*/a.example.com"))
		var want []string
		for i := range 10 {
			want = append(want, fmt.Sprintf(`this change unbinds "b.example.com", "c.example.com", "d.example.com" and 1 more of VirtualService "tenant-%02d/web" (no longer authorized for tenant-%02d)`, i, i))
		}
		want = append(want, "this change unbinds hosts of 2 more VirtualServices")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Warn():\n got %q\nwant %q", got, want)
		}
	})

	t.Run("no index", func(t *testing.T) {
		if got := w.Warn(Request{Operation: "UPDATE", Namespace: "istio-ingress", Name: "public"}, gateway("istio-ingress", "public")); got != nil {
			t.Errorf("Warn() without an index = %q", got)
		}
	})
}
