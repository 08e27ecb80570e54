package webhook_test

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// warningValidator is a Validator and a Warner: it warns about every pod and
// rejects pods named "bad"; it records the request it saw.
type warningValidator struct {
	nameValidator
	seen policies.Request
}

func (v *warningValidator) Warn(req policies.Request, pod *corev1.Pod) []string {
	v.seen = req
	return []string{"pod " + pod.Name + " noted"}
}

func TestChainWarner(t *testing.T) {
	for _, tt := range []struct {
		mode         webhook.Mode
		wantDenials  []string
		wantWarnings []string
	}{
		{webhook.Enforce, []string{"[names] " + nameDenial, "[names] " + badDenial}, []string{"[names] pod bad noted"}},
		{webhook.Audit, nil, []string{"[names] pod bad noted", "[names] would deny: " + nameDenial, "[names] would deny: " + badDenial}},
		{webhook.Off, nil, nil},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			v := &warningValidator{}
			c := &webhook.Chain[*corev1.Pod]{
				Validators: []policies.Validator[*corev1.Pod]{v},
				Modes:      func(string) webhook.Mode { return tt.mode },
			}
			d := c.Validate(context.Background(), policies.Request{Namespace: "tenant-a"}, badPod())
			if !reflect.DeepEqual(d.Denials, tt.wantDenials) || !reflect.DeepEqual(d.Warnings, tt.wantWarnings) {
				t.Errorf("Validate():\n denials  %q\n warnings %q\nwant\n denials  %q\n warnings %q", d.Denials, d.Warnings, tt.wantDenials, tt.wantWarnings)
			}
		})
	}
}

func TestChainLookups(t *testing.T) {
	v := &warningValidator{}
	idx := policies.NewGatewayIndex()
	c := &webhook.Chain[*corev1.Pod]{
		Validators: []policies.Validator[*corev1.Pod]{v},
		Modes:      func(string) webhook.Mode { return webhook.Enforce },
		Lookups:    func(req *policies.Request) { req.Gateways = idx },
	}
	c.Validate(context.Background(), policies.Request{Namespace: "tenant-a"}, badPod())
	if v.seen.Gateways != idx || v.seen.Namespace != "tenant-a" {
		t.Errorf("the validator saw %+v, want the request with the chain's look-ups", v.seen)
	}
}
