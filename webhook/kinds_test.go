package webhook

import (
	"reflect"
	"testing"

	"github.com/flux-infra/platform-webhook/policies"
)

// A denial made while a kind the look-ups read is still loading says to
// retry instead (a route's Gateway "does not exist" may only be unseen).
func TestStillLoading(t *testing.T) {
	denied := []policies.Violation{{Field: "spec.parentRefs[0]", Detail: `gateway "istio-ingress/public" does not exist`}}
	for _, tc := range []struct {
		name    string
		loading func() []string
		want    []string
	}{
		{"no follower", nil, []string{`spec.parentRefs[0]: gateway "istio-ingress/public" does not exist`}},
		{"nothing loading", func() []string { return nil }, []string{`spec.parentRefs[0]: gateway "istio-ingress/public" does not exist`}},
		{"gateways loading", func() []string {
			return []string{"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"}
		}, []string{`the webhook is still loading "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io", installed moments ago: retry in a few seconds`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range stillLoading(tc.loading, denied) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestKindFollowerLoading(t *testing.T) {
	f := NewKindFollower(nil, Kind{CRD: "a.example.com"}, Kind{CRD: "b.example.com"})
	f.set("a.example.com", kindLoading)
	f.set("b.example.com", kindWatching)
	if got := f.Loading("a.example.com", "b.example.com", "c.example.com"); !reflect.DeepEqual(got, []string{"a.example.com"}) {
		t.Errorf("Loading = %q, want only a.example.com", got)
	}
	if got := f.watching(); !reflect.DeepEqual(got, []string{"b.example.com"}) {
		t.Errorf("watching = %q", got)
	}
}
