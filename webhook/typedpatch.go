package webhook

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gomodules.xyz/jsonpatch/v2"
)

// typedPatch is the JSON patch from before to after, two values of the same
// Go type (the decoded object, deep-copied before the mutators ran, and the
// object they changed): the patch Patch computes from json.Marshal of each,
// without encoding either whole.
//
// Encoding a 9 KB pod twice to find the few members the mutators changed,
// then decoding both into maps to diff them, was the largest part of the
// patch's cost (BENCHMARKS.md, issue 26). Here the two Go values are
// compared member by member as encoding/json would write them, and the
// operations are those jsonpatch.CreatePatch finds in the two encodings
// (gomodules.xyz/jsonpatch/v2, jsonpatch.go: handleValues and diff): a
// member on one side only is added or removed whole; values of different
// JSON types, or scalars that differ, are replaced; objects are compared
// member by member; arrays index by index, the elements past the shorter
// one removed from the last (when after is shorter) or added (when it is
// longer) before the common ones are compared. A value is written as
// encoding/json writes it (json.RawMessage: its members in the Go type's
// order, where CreatePatch's decoded maps write them sorted: the same JSON
// value). Whatever this does not follow as encoding/json does (a type with
// its own MarshalJSON or MarshalText, an interface, a struct whose fields
// encoding/json would resolve by its embedding rules or quote with
// ",string") is encoded whole at that point on both sides, and
// jsonpatch.CreatePatch diffs the two encodings there.
//
// TestTypedPatchMatchesFullDiff checks the two against each other on every
// pod of the fixtures and on synthetic changes.
func typedPatch(before, after any) ([]jsonpatch.Operation, error) {
	va, vb := reflect.ValueOf(before), reflect.ValueOf(after)
	if va.Type() != vb.Type() {
		return nil, errors.New("typedPatch: values of different types")
	}
	d := differ{path: make([]byte, 0, 128)}
	if err := d.value(va, vb); err != nil {
		return nil, err
	}
	return d.ops, nil
}

// differ collects the operations from one value to another; path is the
// JSON pointer of the values being compared.
type differ struct {
	ops  []jsonpatch.Operation
	path []byte
}

// value compares va and vb, two values of one type that are both written at
// d.path (not omitted).
func (d *differ) value(va, vb reflect.Value) error {
	t := va.Type()
	if ownEncoding(t) {
		return d.leaf(va, vb)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb)
		}
		return d.value(va.Elem(), vb.Elem())
	case reflect.Struct:
		fields := fieldsOf(t)
		if fields == nil {
			return d.leaf(va, vb)
		}
		for i := range fields {
			f := &fields[i]
			fa, fb := va.FieldByIndex(f.index), vb.FieldByIndex(f.index)
			if equal(fa, fb) {
				continue
			}
			if err := d.member(f, f.name, fa, fb); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String || va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb) // null, or keys encoding/json converts
		}
		return d.mapObject(va, vb)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 || va.IsNil() || vb.IsNil() {
			return d.leaf(va, vb) // base64, or null
		}
		return d.array(va, vb)
	}
	return d.leaf(va, vb) // scalars, arrays, interfaces
}

// member compares the member key of two objects, the values fa and fb of
// field f, which differ: where encoding/json leaves it out on one side, it
// is added or removed whole.
func (d *differ) member(f *field, key string, fa, fb reflect.Value) error {
	n := len(d.path)
	defer func() { d.path = d.path[:n] }()
	d.path = appendPointer(d.path, key)
	inA, inB := !f.omitted(fa), !f.omitted(fb)
	switch {
	case inA && inB:
		return d.value(fa, fb)
	case inA:
		d.add("remove", nil)
	case inB:
		enc, err := appendEncoded(nil, fb)
		if err != nil {
			return err
		}
		d.add("add", enc)
	}
	return nil
}

// mapObject compares two maps with string keys as objects (an entry is
// always written, whatever its value).
func (d *differ) mapObject(va, vb reflect.Value) error {
	n := len(d.path)
	defer func() { d.path = d.path[:n] }()
	iter := va.MapRange()
	for iter.Next() {
		k, ea := iter.Key(), iter.Value()
		eb := vb.MapIndex(k)
		if eb.IsValid() && equal(ea, eb) {
			continue
		}
		d.path = appendPointer(d.path[:n], k.String())
		if !eb.IsValid() {
			d.add("remove", nil)
			continue
		}
		if err := d.value(ea, eb); err != nil {
			return err
		}
	}
	iter = vb.MapRange()
	for iter.Next() {
		if va.MapIndex(iter.Key()).IsValid() {
			continue
		}
		enc, err := appendEncoded(nil, iter.Value())
		if err != nil {
			return err
		}
		d.path = appendPointer(d.path[:n], iter.Key().String())
		d.add("add", enc)
	}
	return nil
}

// array compares two slices index by index, as CreatePatch does: the
// elements past the shorter one are removed, from the last, or added, then
// the common ones compared.
func (d *differ) array(va, vb reflect.Value) error {
	n := min(va.Len(), vb.Len())
	base := len(d.path)
	defer func() { d.path = d.path[:base] }()
	at := func(i int) {
		d.path = strconv.AppendInt(append(d.path[:base], '/'), int64(i), 10)
	}
	for i := va.Len() - 1; i >= n; i-- {
		at(i)
		d.add("remove", nil)
	}
	for i := n; i < vb.Len(); i++ {
		enc, err := appendEncoded(nil, vb.Index(i))
		if err != nil {
			return err
		}
		at(i)
		d.add("add", enc)
	}
	for i := range n {
		if equal(va.Index(i), vb.Index(i)) {
			continue
		}
		at(i)
		if err := d.value(va.Index(i), vb.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

// leaf compares two values by their encodings: equal, nothing; objects or
// arrays both, CreatePatch's diff of the two; else one replaces the other.
func (d *differ) leaf(va, vb reflect.Value) error {
	a, err := appendEncoded(nil, va)
	if err != nil {
		return err
	}
	b, err := appendEncoded(nil, vb)
	if err != nil {
		return err
	}
	switch {
	case bytes.Equal(a, b):
		return nil
	case a[0] == b[0] && (a[0] == '{' || a[0] == '['):
		ops, err := jsonpatch.CreatePatch(wrapValue(a), wrapValue(b))
		if err != nil {
			return err
		}
		for _, op := range ops { // "/v..." is at d.path
			op.Path = string(d.path) + strings.TrimPrefix(op.Path, "/v")
			d.ops = append(d.ops, op)
		}
		return nil
	}
	d.add("replace", b)
	return nil
}

// wrapValue is {"v":value}, a document CreatePatch diffs value in.
func wrapValue(value []byte) []byte {
	return append(append([]byte(`{"v":`), value...), '}')
}

// add records an operation at d.path; value is encoding/json's, or nil.
func (d *differ) add(op string, value []byte) {
	o := jsonpatch.Operation{Operation: op, Path: string(d.path)}
	if value != nil {
		o.Value = json.RawMessage(value)
	}
	d.ops = append(d.ops, o)
}

// appendPointer appends "/" and key, escaped as a JSON pointer token
// (RFC 6901: "~" as "~0", "/" as "~1"; annotation keys have slashes).
func appendPointer(path []byte, key string) []byte {
	path = append(path, '/')
	for i := range len(key) {
		switch key[i] {
		case '~':
			path = append(path, '~', '0')
		case '/':
			path = append(path, '~', '1')
		default:
			path = append(path, key[i])
		}
	}
	return path
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
	name      string // the member's name
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
		f.name = name
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
