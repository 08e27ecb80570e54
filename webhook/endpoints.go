package webhook

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
)

// Endpoints gives one admission handler per policy of the chain, served at
// "/<policy name>". One webhook per policy lets each have its own
// failurePolicy, selectors and name in messages ("image-registry.flux-infra.io").
func Endpoints[T interface {
	Object
	client.Object
}](chain *Chain[T], newObj func() T, decoder admission.Decoder, ns NamespaceLabels) map[string]admission.Handler {
	out := map[string]admission.Handler{}
	for _, m := range chain.Mutators {
		one := *chain
		one.Mutators, one.Validators = []policies.Mutator[T]{m}, nil
		out["/"+m.Name()] = &Handler[T]{Chain: &one, Mutating: true, New: newObj, Decoder: decoder, Namespaces: ns}
	}
	var mutators []string
	for _, m := range chain.Mutators {
		mutators = append(mutators, m.Name())
	}
	for _, v := range chain.Validators {
		one := *chain
		one.Mutators, one.Validators = nil, []policies.Validator[T]{v}
		one.MutatorsElsewhere = mutators
		out["/"+v.Name()] = &Handler[T]{Chain: &one, New: newObj, Decoder: decoder, Namespaces: ns}
	}
	return out
}
