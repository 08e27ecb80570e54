package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
)

// NamespaceLabels returns the labels of a namespace, or nil when it is not
// known. The server reads them from an informer cache, review from --context.
type NamespaceLabels func(ctx context.Context, namespace string) (map[string]string, error)

// Handler serves one admission endpoint for objects of type T: it decodes the
// request, runs the chain's mutators (Mutating) or validators, and answers.
type Handler[T interface {
	Object
	client.Object
}] struct {
	Chain      *Chain[T]
	Mutating   bool
	New        func() T
	Decoder    admission.Decoder
	Namespaces NamespaceLabels

	decoded atomic.Pointer[schema.GroupVersionKind] // see decode
	scoped  sync.Once                               // see keep
	scope   *scope
}

// Handle implements admission.Handler.
func (h *Handler[T]) Handle(ctx context.Context, req admission.Request) admission.Response {
	log := withLazyValues(logf.FromContext(ctx), "uid", req.UID, "namespace", req.Namespace, "name", req.Name)
	ctx = logf.IntoContext(ctx, log)

	if resp, bad := badRequest(req); bad {
		return resp
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		return admission.Allowed("operation " + string(req.Operation) + " is not checked")
	}
	if !reviewedSubResource(req.SubResource) {
		return admission.Allowed("subresource " + req.SubResource + " is not checked")
	}
	obj, err := h.decode(req)
	if err != nil {
		log.V(1).Info("undecodable object", "error", err.Error())
		return admission.Errored(http.StatusBadRequest, errors.New("the object could not be decoded as "+req.Kind.Kind))
	}
	preq := policies.Request{
		Operation:   string(req.Operation),
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
	}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		// Updates are judged by what they change (update.go), so the
		// policies see the object as it was.
		old, err := h.decodeRaw(req.OldObject.Raw)
		if err != nil {
			log.V(1).Info("undecodable old object", "error", err.Error())
			return admission.Errored(http.StatusBadRequest, errors.New("the old object could not be decoded as "+req.Kind.Kind))
		}
		preq.OldObject = old
		if !h.Mutating { // only the validators' update rules read it
			preq.MetadataOnly = MetadataOnly(req.OldObject.Raw, req.Object.Raw)
		}
	}
	if h.Namespaces != nil && req.Namespace != "" {
		labels, err := h.Namespaces(ctx, req.Namespace)
		if err != nil {
			log.Error(err, "namespace lookup")
			return admission.Errored(http.StatusInternalServerError, errors.New("the webhook could not read namespace "+req.Namespace))
		}
		preq.NamespaceLabels = labels
	}

	var d Decision
	var resp admission.Response
	if h.Mutating {
		before, err := h.keep(obj)
		if err != nil {
			log.Error(err, "patch")
			return admission.Errored(http.StatusInternalServerError, errors.New("the webhook could not compute its patch"))
		}
		d = h.Chain.Mutate(ctx, preq, obj)
		resp = admission.Allowed("")
		if !d.Allowed() { // a mutator refused the object (policies.Refuser)
			resp = admission.Denied(d.Message())
		} else if d.Mutated {
			patch, err := h.patch(before, obj, req.Object.Raw)
			if err != nil {
				log.Error(err, "patch")
				return admission.Errored(http.StatusInternalServerError, errors.New("the webhook could not compute its patch"))
			}
			resp = admission.Patched("", patch...)
		}
	} else {
		d = h.Chain.Validate(ctx, preq, obj)
		resp = admission.Allowed("")
		if !d.Allowed() {
			resp = admission.Denied(d.Message())
		}
	}
	resp.Warnings = LimitWarnings(d.Warnings)
	resp.AuditAnnotations = d.AuditAnnotations
	return resp
}

// Patch is the JSON patch from before (the object as decoded, re-encoded) to
// after. Both sides go through the same Go types, so fields the types do not
// know (a newer API server) are absent from both and never removed. The
// handler computes the same patch from the fields its mutators may change
// (scopedpatch.go), or with typedPatch without encoding either side whole;
// review, which has before as JSON, uses this.
func Patch(before []byte, after any) ([]jsonpatch.JsonPatchOperation, error) {
	a, err := json.Marshal(after)
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreatePatch(pruneEqual(before, a)) // see patch.go: same patch, a fraction of the work
}
