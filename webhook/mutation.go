package webhook

import (
	"reflect"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// kept is what the handler keeps of an object before its mutators run, to
// compute the patch from afterwards.
type kept struct {
	snap *snapshot      // the fields the mutators may change (scopedpatch.go), or
	copy runtime.Object // the whole object, where the chain has no scope
}

// keep keeps obj's scoped fields when every mutator of the chain names its
// scope (policies.Scoped), else a deep copy of obj.
func (h *Handler[T]) keep(obj T) (kept, error) {
	h.scoped.Do(func() {
		paths := chainScope(h.Chain.Mutators)
		if paths == nil {
			return
		}
		s, err := compileScope(reflect.TypeOf(obj), paths)
		if err != nil { // a mistake in a policy's Scope: TestScopesCompile
			logf.Log.Error(err, "the mutators' scope, deep-copying instead")
			return
		}
		h.scope = s
	})
	if h.scope != nil {
		snap, ok, err := h.scope.take(obj)
		if err != nil || ok {
			return kept{snap: snap}, err
		}
	}
	return kept{copy: obj.DeepCopyObject()}, nil
}

// patch is the JSON patch from what keep kept to obj. Where obj's shape
// under the scope changed (a mutator outside its scope), the object is
// decoded again from raw and compared whole, as without a scope.
func (h *Handler[T]) patch(k kept, obj T, raw []byte) ([]jsonpatch.Operation, error) {
	if k.snap == nil {
		return typedPatch(k.copy, obj)
	}
	ops, ok, err := k.snap.patch(obj)
	if err != nil || ok {
		return ops, err
	}
	logf.Log.V(1).Info("a mutator changed the shape of its scope; comparing the whole object")
	before, err := h.decodeRaw(raw)
	if err != nil {
		return nil, err
	}
	return typedPatch(before, obj)
}
