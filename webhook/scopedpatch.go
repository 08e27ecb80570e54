package webhook

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/flux-infra/platform-webhook/policies"
)

// A scope is what the mutators of a chain may change (policies.Scoped),
// compiled for the Go type they mutate. Before the mutators run, the
// handler keeps these fields only (a snapshot: for image-rewrite a few
// strings), not a deep copy of the whole object, and afterwards compares
// them alone: the deep copy and the walk over every field of a pod were
// most of what a rewritten pod cost over a bare server (issue 26).
//
// The patch is the full diff's (Patch, typedPatch) restricted to these
// fields, which is all of it when the mutators keep to their scope: the
// fields that differ are written as typedPatch writes members, each under a
// key of its own in one pair of small documents, jsonpatch.CreatePatch
// diffs those as it would have diffed the fields inside the whole object,
// and the paths of its operations are moved under the fields' JSON
// pointers. Where the object's shape under the scope changed (an array
// walked with "[*]" grew or shrank, one named with "[+]" shrank: what a
// scope promises not to do), or a parent of a field is left out of the
// encoding, the snapshot cannot say what the full diff would, and the
// handler compares the whole object instead (mutation.go).
type scope struct {
	paths [][]scopeStep
}

// scopeStep is one member on a scope's path, and how the path goes on.
type scopeStep struct {
	field field
	how   stepKind
	// upTo: the array is also named with "[+]", so "[*]" walks the elements
	// it had before the mutators ran; those they add are that path's.
	upTo bool
}

type stepKind int

const (
	whole    stepKind = iota // the member: the path's last step, or a struct on the way
	each                     // "[*]": each element of the array
	appended                 // "[+]": the array, to which the mutators only append
)

// chainScope returns the union of the scopes of mutators, or nil when one of
// them is not policies.Scoped (the handler then deep-copies the object).
func chainScope[T any](mutators []policies.Mutator[T]) []string {
	var paths []string
	for _, m := range mutators {
		s, ok := m.(policies.Scoped)
		if !ok {
			return nil
		}
		paths = append(paths, s.Scope()...)
	}
	return paths
}

// compileScope compiles paths for values of type t (a pointer to a struct,
// as the chains' objects are). A path that names a field another one names
// or reaches through is dropped, so no field is compared twice.
func compileScope(t reflect.Type, paths []string) (*scope, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var compiled [][]scopeStep
	for _, p := range paths {
		steps, err := compilePath(t, p)
		if err != nil {
			return nil, fmt.Errorf("scope %q of %s: %w", p, t, err)
		}
		compiled = append(compiled, steps)
	}
	s := &scope{}
	for i, p := range compiled {
		covered := false
		for j, q := range compiled {
			if j != i && coversPath(q, p) && (!coversPath(p, q) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			s.paths = append(s.paths, p)
		}
	}
	for _, p := range s.paths {
		for i := range p {
			if p[i].how != each {
				continue
			}
			for _, q := range s.paths {
				if len(q) == i+1 && q[i].how == appended && sameFields(q[:i+1], p[:i+1]) {
					p[i].upTo = true
				}
			}
		}
	}
	return s, nil
}

func compilePath(t reflect.Type, path string) ([]scopeStep, error) {
	var steps []scopeStep
	segs := strings.Split(path, ".")
	for n, seg := range segs {
		how := whole
		name := seg
		if s, ok := strings.CutSuffix(seg, "[*]"); ok {
			name, how = s, each
		} else if s, ok := strings.CutSuffix(seg, "[+]"); ok {
			if n != len(segs)-1 {
				return nil, fmt.Errorf("%q: \"[+]\" ends a path", seg)
			}
			name, how = s, appended
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || ownEncoding(t) {
			return nil, fmt.Errorf("%q is not in a struct this file follows", seg)
		}
		fields := fieldsOf(t)
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
		if i < 0 {
			return nil, fmt.Errorf("%s has no member %q", t, name)
		}
		f := fields[i]
		t = t.FieldByIndex(f.index).Type
		if how != whole {
			if t.Kind() != reflect.Slice || ownEncoding(t) {
				return nil, fmt.Errorf("%q is not an array", name)
			}
			t = t.Elem()
		}
		steps = append(steps, scopeStep{field: f, how: how})
	}
	return steps, nil
}

// coversPath says whether q names what p names or a parent of it: the
// whole member covers its "[*]" and "[+]", and "[*]" what is under it.
func coversPath(q, p []scopeStep) bool {
	if len(q) > len(p) || !sameFields(q, p) {
		return false
	}
	for i := range q {
		last := i == len(q)-1
		switch {
		case q[i].how == p[i].how:
		case last && q[i].how == whole:
		default:
			return false
		}
	}
	return true
}

func sameFields(q, p []scopeStep) bool {
	for i := range q {
		if !slices.Equal(q[i].field.index, p[i].field.index) {
			return false
		}
	}
	return true
}

// snapshot is what a scope's fields held before the mutators ran, in walk
// order: a copy of each (copyValue), or for an array named with "[+]" the
// array as it was (its elements stay as they were); and the length of each
// array walked through.
type snapshot struct {
	s      *scope
	values []reflect.Value
	shape  []int
}

// element is an array's element as a field: never left out.
var element field

// errShape stops a walk whose shape differs from the snapshot's.
var errShape = errors.New("the object's shape under the scope changed")

// take reads obj's scoped fields. ok is false when a parent of one is left
// out of the encoding (a nil pointer, an omitzero struct): the snapshot
// cannot place that field.
func (s *scope) take(obj any) (snap *snapshot, ok bool, err error) {
	snap = &snapshot{s: s}
	root := reflect.ValueOf(obj)
	for _, p := range s.paths {
		err := walkScope(root, p, nil, func(_ []byte, _ string, step *scopeStep, v reflect.Value) error {
			if step != nil && step.how == appended { // the slice header: v is the field itself
				header := reflect.New(v.Type()).Elem()
				header.Set(v)
				snap.values = append(snap.values, header)
			} else {
				snap.values = append(snap.values, copyValue(v))
			}
			return nil
		}, func(_ *scopeStep, n int) (int, error) {
			snap.shape = append(snap.shape, n)
			return n, nil
		})
		if errors.Is(err, errShape) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	return snap, true, nil
}

// walkScope calls leaf with each field on path under v: the JSON pointer of
// its parent and its own token (when pointer, v's, is not nil), its step
// (nil for an array's element) and its value; and arrays with the length of
// each array walked with "[*]", which returns how many elements to walk.
func walkScope(v reflect.Value, path []scopeStep, pointer []byte,
	leaf func(parent []byte, token string, step *scopeStep, v reflect.Value) error,
	arrays func(step *scopeStep, n int) (int, error)) error {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return errShape
		}
		v = v.Elem()
	}
	step := &path[0]
	fv := v.FieldByIndex(step.field.index)
	if len(path) == 1 && step.how != each {
		return leaf(pointer, step.field.name, step, fv)
	}
	if step.field.omitted(fv) && !(step.how == each && fv.Len() == 0) {
		return errShape // a parent left out: the full diff adds or removes it whole
	}
	if pointer != nil {
		pointer = appendPointer(pointer, step.field.name)
	}
	if step.how == whole {
		return walkScope(fv, path[1:], pointer, leaf, arrays)
	}
	n, err := arrays(step, fv.Len())
	if err != nil {
		return err
	}
	for i := range n {
		var err error
		if len(path) == 1 {
			err = leaf(pointer, strconv.Itoa(i), nil, fv.Index(i))
		} else {
			var p []byte
			if pointer != nil {
				p = strconv.AppendInt(append(pointer, '/'), int64(i), 10)
			}
			err = walkScope(fv.Index(i), path[1:], p, leaf, arrays)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// patch is the JSON patch from the snapshot to obj's scoped fields. ok is
// false when obj's shape under the scope is not the snapshot's.
func (snap *snapshot) patch(obj any) (ops []jsonpatch.Operation, ok bool, err error) {
	var d differ
	next, shape := 0, 0
	root := reflect.ValueOf(obj)
	for _, p := range snap.s.paths {
		err := walkScope(root, p, make([]byte, 0, 64), func(parent []byte, token string, step *scopeStep, v reflect.Value) error {
			if next >= len(snap.values) {
				return errShape
			}
			before := snap.values[next]
			next++
			f := &element
			if step != nil {
				f = &step.field
				if step.how == appended {
					// The elements it had are compared under "[*]", if at
					// all: here, as they are now (equal on both sides).
					if v.Len() < before.Len() {
						return errShape
					}
					if before.Len() > 0 {
						before = v.Slice(0, before.Len())
					}
				}
			}
			if equal(before, v) {
				return nil
			}
			d.path = append(d.path[:0], parent...)
			return d.member(f, token, before, v)
		}, func(step *scopeStep, n int) (int, error) {
			if shape >= len(snap.shape) {
				return 0, errShape
			}
			was := snap.shape[shape]
			shape++
			switch {
			case n == was:
			case step.upTo && n > was:
				n = was // the elements added are under "[+]"
			default:
				return 0, errShape
			}
			return n, nil
		})
		if errors.Is(err, errShape) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	if next != len(snap.values) || shape != len(snap.shape) {
		return nil, false, nil
	}
	return d.ops, true, nil
}
