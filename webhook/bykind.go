package webhook

import (
	"context"
	"errors"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// ByKind serves one policy's endpoint for several kinds of object
// (flux-placement: HelmRelease and Kustomization; gateway-hosts:
// VirtualService and Gateway): each request goes to the handler of its kind,
// as the apiserver names it in the request (after conversion to the version
// the webhook configuration lists, matchPolicy: Equivalent).
type ByKind map[schema.GroupKind]admission.Handler

// Handle implements admission.Handler. A kind without a handler is a
// misconfigured webhook rule: answered 400, never allowed silently.
func (b ByKind) Handle(ctx context.Context, req admission.Request) admission.Response {
	if resp, bad := badRequest(req); bad {
		return resp
	}
	if h, ok := b[schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}]; ok {
		return h.Handle(ctx, req)
	}
	kind := req.Kind.Kind
	if req.Kind.Group != "" {
		kind += "." + req.Kind.Group
	}
	return admission.Errored(http.StatusBadRequest, errors.New("this webhook does not review "+kind))
}

// Handler is the endpoint's handler: the only one as it is, or b itself
// when several kinds share the endpoint.
func (b ByKind) Handler() admission.Handler {
	if len(b) == 1 {
		for _, h := range b {
			return h
		}
	}
	return b
}
