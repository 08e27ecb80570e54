package webhook

import (
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"
)

// decode decodes the request's object into a new T.
//
// The admission decoder (apimachinery's universal deserializer) reads the
// whole object twice: once with encoding/json for its apiVersion and kind,
// then into T with sigs.k8s.io/json. The first pass is a fifth of what the
// handler spends on a 9 KB pod (BENCHMARKS.md). So the first object is
// decoded by the decoder, which also checks that it is of T's kind, and its
// apiVersion and kind are remembered; after that, an object is decoded as
// the decoder decodes it (sigs.k8s.io/json, case-sensitive, integers kept)
// in one pass, and kept when it says that same apiVersion and kind. Any other
// object, and any error, goes through the decoder: its answers (and errors)
// are the decoder's.
func (h *Handler[T]) decode(req admission.Request) (T, error) {
	return h.decodeRaw(req.Object.Raw)
}

// decodeRaw decodes raw (the request's object or old object) as decode does.
func (h *Handler[T]) decodeRaw(raw []byte) (T, error) {
	if gvk := h.decoded.Load(); gvk != nil {
		obj := h.New()
		if kjson.UnmarshalCaseSensitivePreserveInts(raw, obj) == nil && obj.GetObjectKind().GroupVersionKind() == *gvk {
			return obj, nil
		}
	}
	obj := h.New()
	if err := h.Decoder.DecodeRaw(runtime.RawExtension{Raw: raw}, obj); err != nil {
		return obj, err
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Version != "" && gvk.Kind != "" {
		h.decoded.CompareAndSwap(nil, &gvk)
	}
	return obj, nil
}
