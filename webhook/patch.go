package webhook

import (
	"bytes"
	"slices"
)

// pruneEqual returns a and b without the parts in which they are equal, for
// jsonpatch.CreatePatch: an object member present in both with the same bytes
// is left out of both, and an array element with the same bytes at the same
// index in both becomes null in both. CreatePatch compares objects member by
// member and arrays index by index, so it finds no operation in such parts:
// the patch of the pruned documents is the patch of the documents. It is
// computed on what changed instead of on the whole object (for a 9 KB pod
// whose images were rewritten, a few hundred bytes instead of twice 9 KB
// decoded into maps), with the same paths, still written by the library.
//
// a and b are compact JSON as encoding/json writes it. Anything else (white
// space, invalid JSON) is returned as it is, and CreatePatch sees the whole.
func pruneEqual(a, b []byte) ([]byte, []byte) {
	da, ok := index(a)
	if !ok {
		return a, b
	}
	db, ok := index(b)
	if !ok {
		return a, b
	}
	pa, pb, ok := prune(da, db, 0, len(a), 0, len(b), make([]byte, 0, 1024), make([]byte, 0, 1024))
	if !ok {
		return a, b
	}
	return pa, pb
}

// doc is a compact JSON document and where each of its objects and arrays
// ends: one scan, after which a value is skipped in one step.
type doc struct {
	b     []byte
	opens []int32 // the index of each '{' and '[', in order
	ends  []int32 // the index just past the value opened at opens[i]
}

// structural marks the bytes index stops at.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

func index(b []byte) (doc, bool) {
	if len(b) > 1<<30 {
		return doc{}, false
	}
	n := len(b)/40 + 8 // a pod has about one object or array in 50 bytes
	d := doc{b: b, opens: make([]int32, 0, n), ends: make([]int32, 0, n)}
	open := make([]int, 0, 32) // indexes into d.opens of the values not closed yet
	for j := 0; j < len(b); {
		c := b[j]
		if !structural[c] {
			j++
			continue
		}
		switch c {
		case '"':
			if j = skipString(b, j); j < 0 {
				return doc{}, false
			}
			continue
		case '{', '[':
			open = append(open, len(d.opens))
			d.opens, d.ends = append(d.opens, int32(j)), append(d.ends, 0)
		default: // '}', ']'
			if len(open) == 0 {
				return doc{}, false
			}
			o := open[len(open)-1]
			if (b[d.opens[o]] == '{') != (c == '}') {
				return doc{}, false
			}
			open, d.ends[o] = open[:len(open)-1], int32(j+1)
		}
		j++
	}
	return d, len(open) == 0
}

// prune appends the pruned a.b[ia:ja] and b.b[ib:jb] to outA and outB.
func prune(a, b doc, ia, ja, ib, jb int, outA, outB []byte) ([]byte, []byte, bool) {
	switch {
	case ia >= ja || ib >= jb:
		return nil, nil, false
	case a.b[ia] == '{' && b.b[ib] == '{':
		ma, ok := a.members(ia, ja)
		if !ok {
			return nil, nil, false
		}
		mb, ok := b.members(ib, jb)
		if !ok {
			return nil, nil, false
		}
		outA, outB = append(outA, '{'), append(outB, '{')
		startA, startB := len(outA), len(outB)
		inA := make([]bool, len(mb)) // mb[j] has a member of the same key in a
		hint := 0
		for _, m := range ma {
			key := a.b[m.key : m.value-1]
			j := b.find(mb, key, hint)
			if j < 0 { // only in a: a "remove", kept whole
				outA = appendMember(outA, startA, key, a.b[m.value:m.end])
				continue
			}
			inA[j], hint = true, j+1
			if bytes.Equal(a.b[m.value:m.end], b.b[mb[j].value:mb[j].end]) {
				continue
			}
			outA, outB = appendKey(outA, startA, key), appendKey(outB, startB, key)
			if outA, outB, ok = prune(a, b, m.value, m.end, mb[j].value, mb[j].end, outA, outB); !ok {
				return nil, nil, false
			}
		}
		for j, m := range mb {
			if !inA[j] { // only in b: an "add", kept whole
				outB = appendMember(outB, startB, b.b[m.key:m.value-1], b.b[m.value:m.end])
			}
		}
		return append(outA, '}'), append(outB, '}'), true
	case a.b[ia] == '[' && b.b[ib] == '[':
		ea, ok := a.elements(ia, ja)
		if !ok {
			return nil, nil, false
		}
		eb, ok := b.elements(ib, jb)
		if !ok {
			return nil, nil, false
		}
		outA, outB = append(outA, '['), append(outB, '[')
		for i := range max(len(ea), len(eb)) {
			switch {
			case i >= len(eb): // removed
				outA = appendElement(outA, i, a.b[ea[i][0]:ea[i][1]])
			case i >= len(ea): // added
				outB = appendElement(outB, i, b.b[eb[i][0]:eb[i][1]])
			case bytes.Equal(a.b[ea[i][0]:ea[i][1]], b.b[eb[i][0]:eb[i][1]]):
				outA, outB = appendElement(outA, i, []byte("null")), appendElement(outB, i, []byte("null"))
			default:
				if i > 0 {
					outA, outB = append(outA, ','), append(outB, ',')
				}
				if outA, outB, ok = prune(a, b, ea[i][0], ea[i][1], eb[i][0], eb[i][1], outA, outB); !ok {
					return nil, nil, false
				}
			}
		}
		return append(outA, ']'), append(outB, ']'), true
	}
	// Scalars, or values of different types: compared (or replaced) as they are.
	return append(outA, a.b[ia:ja]...), append(outB, b.b[ib:jb]...), true
}

// member is an object member: its key (with quotes) is b[key:value-1],
// its value b[value:end].
type member struct{ key, value, end int }

// find is the index of the member of key in ms, looked for from hint on
// first: encoding/json writes a type's fields, and a map's sorted keys, in
// the same order every time.
func (d doc) find(ms []member, key []byte, hint int) int {
	for i := range ms {
		j := (hint + i) % len(ms)
		if bytes.Equal(d.b[ms[j].key:ms[j].value-1], key) {
			return j
		}
	}
	return -1
}

func appendKey(out []byte, start int, key []byte) []byte {
	if len(out) > start {
		out = append(out, ',')
	}
	return append(append(out, key...), ':')
}

func appendMember(out []byte, start int, key, value []byte) []byte {
	return append(appendKey(out, start, key), value...)
}

func appendElement(out []byte, i int, value []byte) []byte {
	if i > 0 {
		out = append(out, ',')
	}
	return append(out, value...)
}

// members splits the object d.b[lo:hi] into its members.
func (d doc) members(lo, hi int) ([]member, bool) {
	out := make([]member, 0, 16)
	i := lo + 1
	if hi-lo < 2 || d.b[hi-1] != '}' {
		return nil, false
	}
	if d.b[i] == '}' {
		return out, i+1 == hi
	}
	for {
		if i >= hi || d.b[i] != '"' {
			return nil, false
		}
		k := skipString(d.b, i)
		if k < 0 || k >= hi || d.b[k] != ':' {
			return nil, false
		}
		v := d.skipValue(k+1, hi)
		if v < 0 || v >= hi {
			return nil, false
		}
		out = append(out, member{key: i, value: k + 1, end: v})
		switch d.b[v] {
		case ',':
			i = v + 1
		case '}':
			return out, v+1 == hi
		default:
			return nil, false
		}
	}
}

// elements splits the array d.b[lo:hi] into its elements' [start, end).
func (d doc) elements(lo, hi int) ([][2]int, bool) {
	out := make([][2]int, 0, 8)
	i := lo + 1
	if hi-lo < 2 || d.b[hi-1] != ']' {
		return nil, false
	}
	if d.b[i] == ']' {
		return out, i+1 == hi
	}
	for {
		v := d.skipValue(i, hi)
		if v < 0 || v >= hi {
			return nil, false
		}
		out = append(out, [2]int{i, v})
		switch d.b[v] {
		case ',':
			i = v + 1
		case ']':
			return out, v+1 == hi
		default:
			return nil, false
		}
	}
}

// skipValue returns the index just past the value that starts at i, before
// hi, or -1.
func (d doc) skipValue(i, hi int) int {
	if i >= hi {
		return -1
	}
	switch d.b[i] {
	case '"':
		return skipString(d.b, i)
	case '{', '[':
		k, found := slices.BinarySearch(d.opens, int32(i))
		if !found {
			return -1
		}
		return int(d.ends[k])
	}
	for j := i; j < hi; j++ { // number, true, false, null
		switch d.b[j] {
		case ',', '}', ']':
			if j == i {
				return -1
			}
			return j
		case ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			return -1
		}
	}
	return -1
}

// skipString returns the index just past the string that starts at i, or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for n < j-i-1 && b[j-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}
