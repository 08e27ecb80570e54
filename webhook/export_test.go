package webhook

import (
	"reflect"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime"
)

// TypedPatch is typedPatch, for the tests of package webhook_test.
var TypedPatch = typedPatch

// ScopedPatch is the patch the handler builds from a snapshot of paths: the
// snapshot taken of obj, mutate run, obj compared with the snapshot. ok is
// false where the handler would compare the whole object instead.
func ScopedPatch(paths []string, obj runtime.Object, mutate func()) (ops []jsonpatch.Operation, ok bool, err error) {
	s, err := compileScope(reflect.TypeOf(obj), paths)
	if err != nil {
		return nil, false, err
	}
	snap, ok, err := s.take(obj)
	if !ok || err != nil {
		return nil, ok, err
	}
	mutate()
	return snap.patch(obj)
}

// CompileScope compiles paths for obj's type.
func CompileScope(obj runtime.Object, paths []string) error {
	_, err := compileScope(reflect.TypeOf(obj), paths)
	return err
}
