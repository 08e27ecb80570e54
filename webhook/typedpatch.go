package webhook

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"

	"gomodules.xyz/jsonpatch/v2"
)

// typedPatch is the JSON patch from before to after, two values of the same
// Go type (the decoded object, deep-copied before the mutators ran, and the
// object they changed): the patch Patch computes from json.Marshal of each,
// without encoding either whole.
//
// Encoding a 9 KB pod twice to find the few members the mutators changed was
// the largest part of the patch's cost (BENCHMARKS.md, issue 26). Here the
// two Go values are compared member by member as encoding/json would write
// them, and only the members that differ are encoded: the result is the
// pruned pair of documents pruneEqual would make of the two encodings
// (equal object members left out, equal array elements null in both), and
// jsonpatch.CreatePatch, which compares objects member by member and arrays
// index by index, finds the same operations in it and still writes every
// path. Whatever this does not follow exactly as encoding/json does (a type
// with its own MarshalJSON or MarshalText, an interface, a struct whose
// fields encoding/json would resolve by its embedding rules or quote with
// ",string") is encoded whole at that point, as Patch would encode it.
//
// TestTypedPatchMatchesFullDiff checks the two against each other on every
// pod of the fixtures and on synthetic changes.
func typedPatch(before, after any) ([]jsonpatch.Operation, error) {
	va, vb := reflect.ValueOf(before), reflect.ValueOf(after)
	if va.Type() != vb.Type() {
		return nil, errors.New("typedPatch: values of different types")
	}
	var d differ
	a, b, err := d.value(va, vb, make([]byte, 0, 512), make([]byte, 0, 512))
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreatePatch(a, b)
}

// differ writes the pruned documents.
type differ struct{}

// value appends the pruned encodings of va and vb, two values of one type
// that are both written at this place (not omitted), to a and b.
func (d differ) value(va, vb reflect.Value, a, b []byte) ([]byte, []byte, error) {
	t := va.Type()
	if ownEncoding(t) {
		return d.leaf(va, vb, a, b)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb, a, b)
		}
		return d.value(va.Elem(), vb.Elem(), a, b)
	case reflect.Struct:
		fields := fieldsOf(t)
		if fields == nil {
			return d.leaf(va, vb, a, b)
		}
		return d.object(fields, va, vb, a, b)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb, a, b) // null, or keys encoding/json converts
		}
		return d.mapObject(va, vb, a, b)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 || va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb, a, b) // base64, or null
		}
		return d.array(va, vb, a, b)
	}
	return d.leaf(va, vb, a, b) // scalars, arrays, interfaces
}

// object writes the members of two structs: those equal in both are left
// out, one present on one side only is written whole on that side.
func (d differ) object(fields []field, va, vb reflect.Value, a, b []byte) ([]byte, []byte, error) {
	a, b = append(a, '{'), append(b, '{')
	startA, startB := len(a), len(b)
	var err error
	for i := range fields {
		f := &fields[i]
		fa, fb := va.FieldByIndex(f.index), vb.FieldByIndex(f.index)
		if equal(fa, fb) {
			continue
		}
		if a, b, err = d.member(f, f.key, fa, fb, a, b, startA, startB); err != nil {
			return nil, nil, err
		}
	}
	return append(a, '}'), append(b, '}'), nil
}

// member writes the member key of two objects whose values, fa and fb of
// field f, differ: on the side where encoding/json leaves it out it is
// absent, on a side alone it is written whole. startA and startB are where
// the objects' members begin.
func (d differ) member(f *field, key []byte, fa, fb reflect.Value, a, b []byte, startA, startB int) ([]byte, []byte, error) {
	var err error
	inA, inB := !f.omitted(fa), !f.omitted(fb)
	switch {
	case inA && inB:
		a, b = appendKey(a, startA, key), appendKey(b, startB, key)
		return d.value(fa, fb, a, b)
	case inA:
		a, err = appendEncoded(appendKey(a, startA, key), fa)
	case inB:
		b, err = appendEncoded(appendKey(b, startB, key), fb)
	}
	return a, b, err
}

// mapObject writes the entries of two maps with string keys as object
// members, as object does.
func (d differ) mapObject(va, vb reflect.Value, a, b []byte) ([]byte, []byte, error) {
	a, b = append(a, '{'), append(b, '{')
	startA, startB := len(a), len(b)
	var err error
	iter := va.MapRange()
	for iter.Next() {
		k, ea := iter.Key(), iter.Value()
		eb := vb.MapIndex(k)
		if eb.IsValid() && equal(ea, eb) {
			continue
		}
		key, err := json.Marshal(k.String())
		if err != nil {
			return nil, nil, err
		}
		if !eb.IsValid() { // only in a
			if a, err = appendEncoded(appendKey(a, startA, key), ea); err != nil {
				return nil, nil, err
			}
			continue
		}
		a, b = appendKey(a, startA, key), appendKey(b, startB, key)
		if a, b, err = d.value(ea, eb, a, b); err != nil {
			return nil, nil, err
		}
	}
	iter = vb.MapRange()
	for iter.Next() {
		if va.MapIndex(iter.Key()).IsValid() {
			continue
		}
		key, err := json.Marshal(iter.Key().String())
		if err != nil {
			return nil, nil, err
		}
		if b, err = appendEncoded(appendKey(b, startB, key), iter.Value()); err != nil {
			return nil, nil, err
		}
	}
	return append(a, '}'), append(b, '}'), err
}

// array writes two slices element by element: equal elements as null in
// both, the elements past the shorter one whole on the longer side.
func (d differ) array(va, vb reflect.Value, a, b []byte) ([]byte, []byte, error) {
	a, b = append(a, '['), append(b, '[')
	var err error
	for i := range max(va.Len(), vb.Len()) {
		if i > 0 {
			if i < va.Len() {
				a = append(a, ',')
			}
			if i < vb.Len() {
				b = append(b, ',')
			}
		}
		switch {
		case i >= vb.Len():
			a, err = appendEncoded(a, va.Index(i))
		case i >= va.Len():
			b, err = appendEncoded(b, vb.Index(i))
		case equal(va.Index(i), vb.Index(i)):
			a, b = append(a, "null"...), append(b, "null"...)
		default:
			a, b, err = d.value(va.Index(i), vb.Index(i), a, b)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return append(a, ']'), append(b, ']'), nil
}

// leaf writes both values whole.
func (differ) leaf(va, vb reflect.Value, a, b []byte) ([]byte, []byte, error) {
	a, err := appendEncoded(a, va)
	if err != nil {
		return nil, nil, err
	}
	b, err = appendEncoded(b, vb)
	return a, b, err
}

// appendEncoded appends json.Marshal of v as it is encoded in its document:
// through its address where it has one, so that a MarshalJSON with a pointer
// receiver is called where encoding/json calls it.
func appendEncoded(out []byte, v reflect.Value) ([]byte, error) {
	var x any
	if v.CanAddr() {
		x = v.Addr().Interface()
	} else {
		x = v.Interface()
	}
	enc, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return append(out, enc...), nil
}

// field is a struct field as encoding/json writes it.
type field struct {
	key       []byte // the quoted name
	index     []int  // for FieldByIndex, through embedded structs
	omitEmpty bool
	omitZero  bool
}

// omitted says whether encoding/json leaves the field out (isEmptyValue and
// the omitzero rules of encoding/json, Go 1.24+).
func (f *field) omitted(v reflect.Value) bool {
	if f.omitEmpty {
		switch v.Kind() {
		case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
			if v.Len() == 0 {
				return true
			}
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
			if v.IsZero() {
				return true
			}
		}
	}
	return f.omitZero && isZero(v)
}

type isZeroer interface{ IsZero() bool }

var isZeroerType = reflect.TypeFor[isZeroer]()

// isZero is encoding/json's omitzero test: the type's IsZero method where it
// has one, else the zero value.
func isZero(v reflect.Value) bool {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(isZeroer).IsZero()
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return v.IsNil() || v.Interface().(isZeroer).IsZero()
	case t.Implements(isZeroerType):
		return v.Interface().(isZeroer).IsZero()
	case reflect.PointerTo(t).Implements(isZeroerType):
		if !v.CanAddr() {
			c := reflect.New(t).Elem()
			c.Set(v)
			v = c
		}
		return v.Addr().Interface().(isZeroer).IsZero()
	}
	return v.IsZero()
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

	ownEncodings sync.Map // reflect.Type -> bool
	structFields sync.Map // reflect.Type -> []field (nil: encode whole)
)

// ownEncoding says whether values of t (or *t) encode themselves.
func ownEncoding(t reflect.Type) bool {
	if v, ok := ownEncodings.Load(t); ok {
		return v.(bool)
	}
	own := false
	for _, x := range []reflect.Type{t, reflect.PointerTo(t)} {
		own = own || x.Implements(jsonMarshalerType) || x.Implements(textMarshalerType)
	}
	ownEncodings.Store(t, own)
	return own
}

// fieldsOf returns the fields encoding/json writes for struct type t, or nil
// when t is not one this file follows: an embedded field of an unexported
// type, or promoted (no name in its tag) from anything but a struct, a
// ",string" option, two fields of one name (encoding/json's dominance
// rules), or no field at all.
func fieldsOf(t reflect.Type) []field {
	if v, ok := structFields.Load(t); ok {
		return v.([]field)
	}
	fields, ok := collectFields(t, nil, map[string]bool{})
	if !ok || len(fields) == 0 {
		fields = nil
	}
	structFields.Store(t, fields)
	return fields
}

func collectFields(t reflect.Type, index []int, names map[string]bool) ([]field, bool) {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.Anonymous && !sf.IsExported()) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name != "" && !validName(name) {
			return nil, false // a name encoding/json may read otherwise
		}
		idx := append(append([]int(nil), index...), i)
		if !sf.IsExported() {
			return nil, false // an embedded unexported type: its fields are read through it
		}
		if sf.Anonymous && name == "" { // its fields are promoted
			if sf.Type.Kind() != reflect.Struct {
				return nil, false
			}
			inner, ok := collectFields(sf.Type, idx, names)
			if !ok {
				return nil, false
			}
			out = append(out, inner...)
			continue
		}
		f := field{index: idx}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			case "string":
				return nil, false
			}
		}
		if name == "" {
			name = sf.Name
		}
		if names[name] {
			return nil, false
		}
		names[name] = true
		key, err := json.Marshal(name)
		if err != nil {
			return nil, false
		}
		f.key = key
		out = append(out, f)
	}
	return out, true
}

// validName is encoding/json's isValidTag restricted to ASCII letters and
// digits and the punctuation it allows: a tag name it uses as it is.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}
