package webhook

import (
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// badRequest answers 400 for a review no apiserver sends: one without a
// request (an AdmissionReview that is only apiVersion and kind, or {}), or
// with an operation that is not an admission operation. Bodies that are not
// an AdmissionReview at all (empty, not JSON, over 7 MiB) never get here:
// controller-runtime answers them 400 or 413 itself.
func badRequest(req admission.Request) (admission.Response, bool) {
	if req.UID == "" {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("the admission review has no request (or its uid is empty)")), true
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return admission.Response{}, false
	}
	return admission.Errored(http.StatusBadRequest, fmt.Errorf("unknown operation %q (allowed: CREATE, UPDATE, DELETE, CONNECT)", req.Operation)), true
}

// reviewedSubResource says whether a request on subresource s is reviewed:
// the object itself (""), and pods/ephemeralcontainers, through which
// kubectl debug adds containers with images of their own. Every other
// subresource (status, binding, eviction, resize, scale, ...) cannot change
// what a policy reads, so it is allowed without review: a webhook rule that
// matches one by mistake never blocks a controller's status writes.
func reviewedSubResource(s string) bool {
	return s == "" || s == "ephemeralcontainers"
}
