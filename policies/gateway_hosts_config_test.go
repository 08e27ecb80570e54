package policies

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestGatewayHostsConfigDefault(t *testing.T) {
	var cfg GatewayHostsConfig
	cfg.Default()
	want := GatewayHostsConfig{GatewayNamespaces: []string{"istio-ingress"}, RequireExplicitNamespace: false}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Default():\n got %+v\nwant %+v", cfg, want)
	}

	set := GatewayHostsConfig{GatewayNamespaces: []string{"gateways"}, RequireExplicitNamespace: true}
	got := set
	got.Default()
	if !reflect.DeepEqual(got, set) {
		t.Errorf("Default() changed set fields:\n got %+v\nwant %+v", got, set)
	}

	// An explicit empty list is kept, for Validate to refuse: never a
	// silent fall-back to istio-ingress.
	empty := GatewayHostsConfig{GatewayNamespaces: []string{}}
	empty.Default()
	if empty.GatewayNamespaces == nil || len(empty.GatewayNamespaces) != 0 {
		t.Errorf("Default() replaced an explicit empty list: %q", empty.GatewayNamespaces)
	}
}

func TestGatewayHostsConfigValidate(t *testing.T) {
	path := field.NewPath("policies", "gatewayHosts")
	tests := []struct {
		name       string
		namespaces []string
		want       []string
	}{
		{name: "default", namespaces: nil},
		{name: "two namespaces", namespaces: []string{"istio-ingress", "istio-egress"}},
		{
			name:       "empty list",
			namespaces: []string{},
			want:       []string{"policies.gatewayHosts.gatewayNamespaces: Required value: at least one namespace where the ops team's Gateways live, e.g. istio-ingress"},
		},
		{
			name:       "bad names and a duplicate",
			namespaces: []string{"istio-ingress", "Istio_Ingress", "", "istio-ingress"},
			want: []string{
				`policies.gatewayHosts.gatewayNamespaces[1]: Invalid value: "Istio_Ingress": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
				`policies.gatewayHosts.gatewayNamespaces[2]: Invalid value: "": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
				`policies.gatewayHosts.gatewayNamespaces[3]: Duplicate value: "istio-ingress"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := GatewayHostsConfig{GatewayNamespaces: tt.namespaces}
			cfg.Default()
			var got []string
			for _, e := range cfg.Validate(path) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate():\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
