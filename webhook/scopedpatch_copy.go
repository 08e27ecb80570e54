package webhook

import (
	"reflect"
	"sync"
)

// copyValue is a deep copy of v, addressable (so that appendEncoded calls a
// MarshalJSON with a pointer receiver as encoding/json would): a scoped
// field's value as it was, for the snapshot. Slices, maps and pointers are
// copied through; a struct with unexported fields (resource.Quantity,
// metav1.Time) is copied as a value, its internals shared: the policies
// replace such values, they never change one in place.
func copyValue(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	copyInto(out, v)
	return out
}

func copyInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyInto(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if plainData(src.Type().Elem()) {
			reflect.Copy(s, src)
		} else {
			for i := range src.Len() {
				copyInto(s.Index(i), src.Index(i))
			}
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		plain := plainData(src.Type().Elem())
		iter := src.MapRange()
		for iter.Next() {
			if plain {
				m.SetMapIndex(iter.Key(), iter.Value())
				continue
			}
			e := reflect.New(src.Type().Elem()).Elem()
			copyInto(e, iter.Value())
			m.SetMapIndex(iter.Key(), e)
		}
		dst.Set(m)
	case reflect.Struct:
		if !exportedOnly(src.Type()) {
			dst.Set(src)
			return
		}
		for i := range src.NumField() {
			copyInto(dst.Field(i), src.Field(i))
		}
	default: // scalars, strings (immutable), arrays of them, interfaces (shared)
		dst.Set(src)
	}
}

// plainData says whether values of t hold no pointer the policies could
// write through: copied as they are.
func plainData(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

var exported sync.Map // reflect.Type -> bool

func exportedOnly(t reflect.Type) bool {
	if v, ok := exported.Load(t); ok {
		return v.(bool)
	}
	all := true
	for i := range t.NumField() {
		all = all && t.Field(i).IsExported()
	}
	exported.Store(t, all)
	return all
}
