package review

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	gomodjsonpatch "gomodules.xyz/jsonpatch/v2"
)

// opPaths lists "op path" of each operation.
func opPaths(ops []gomodjsonpatch.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.Operation + " " + op.Path
	}
	return out
}

// applyOps applies ops to doc, strictly, and returns the result decoded.
func applyOps(t *testing.T, doc string, ops []gomodjsonpatch.Operation) any {
	t.Helper()
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(doc))
	if err != nil {
		t.Fatalf("apply %s: %v", raw, err)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func decode(t *testing.T, doc string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSortOpsApplies diffs two documents, shuffles the patch, sorts it and
// checks that it still turns the first document into the second, in the same
// order whatever the shuffle.
func TestSortOpsApplies(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		// want is the sorted order, worked out by hand.
		want []string
	}{
		{
			name: "array of 5 shrinks to 2, element and map changes",
			from: `{"a":[{"n":0},{"n":1},{"n":2},{"n":3},{"n":4}],"m":{"k":"old","gone":1}}`,
			to:   `{"a":[{"n":0,"x":true},{"n":"one"}],"m":{"k":"new","added":2}}`,
			want: []string{
				"add /a/0/x",
				"replace /a/1/n",
				"remove /a/4",
				"remove /a/3",
				"remove /a/2",
				"add /m/added",
				"remove /m/gone",
				"replace /m/k",
			},
		},
		{
			name: "array of 12 shrinks to 2: removals 11 down to 2, numerically",
			from: `{"c":[0,1,2,3,4,5,6,7,8,9,10,11]}`,
			to:   `{"c":["zero",1]}`,
			want: []string{
				"replace /c/0",
				"remove /c/11",
				"remove /c/10",
				"remove /c/9",
				"remove /c/8",
				"remove /c/7",
				"remove /c/6",
				"remove /c/5",
				"remove /c/4",
				"remove /c/3",
				"remove /c/2",
			},
		},
		{
			name: "array grows from 1 to 12: additions 1 up to 11, numerically",
			from: `{"c":[{"v":0}]}`,
			to:   `{"c":[{"v":"zero"},1,2,3,4,5,6,7,8,9,10,11]}`,
			want: []string{
				"replace /c/0/v",
				"add /c/1",
				"add /c/2",
				"add /c/3",
				"add /c/4",
				"add /c/5",
				"add /c/6",
				"add /c/7",
				"add /c/8",
				"add /c/9",
				"add /c/10",
				"add /c/11",
			},
		},
		{
			name: "pod-like: containers shrink, images change, annotation added",
			from: `{"metadata":{"labels":{"app":"w"}},"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"},{"name":"c","image":"z"}]}}`,
			to:   `{"metadata":{"labels":{"app":"w"},"annotations":{"a/b~c":"1"}},"spec":{"containers":[{"name":"a","image":"m/x"}]}}`,
			want: []string{
				"add /metadata/annotations",
				"replace /spec/containers/0/image",
				"remove /spec/containers/2",
				"remove /spec/containers/1",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := gomodjsonpatch.CreatePatch([]byte(tc.from), []byte(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			if len(ops) != len(tc.want) {
				t.Fatalf("CreatePatch gave %q, the test expects %d operations", opPaths(ops), len(tc.want))
			}
			target := decode(t, tc.to)
			for seed := range uint64(40) {
				shuffled := slices.Clone(ops)
				r := rand.New(rand.NewPCG(seed, 7))
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				sortOps(shuffled)
				if got := opPaths(shuffled); !slices.Equal(got, tc.want) {
					t.Fatalf("seed %d: sorted =\n%q\nwant\n%q", seed, got, tc.want)
				}
				if got := applyOps(t, tc.from, shuffled); !reflect.DeepEqual(got, target) {
					t.Fatalf("seed %d: applied = %v, want %v", seed, got, target)
				}
			}
		})
	}
}

// TestSortOpsIndexesAreNumbers: index 2 comes before index 10 (not as
// strings, where "10" < "2"), removals from one array the other way round.
func TestSortOpsIndexesAreNumbers(t *testing.T) {
	op := func(o, p string) gomodjsonpatch.Operation { return gomodjsonpatch.Operation{Operation: o, Path: p} }
	for _, tc := range []struct {
		name string
		ops  []gomodjsonpatch.Operation
		want []string
	}{
		{
			name: "element changes",
			ops:  []gomodjsonpatch.Operation{op("replace", "/c/10/image"), op("replace", "/c/2/image"), op("replace", "/c/1/image")},
			want: []string{"replace /c/1/image", "replace /c/2/image", "replace /c/10/image"},
		},
		{
			name: "additions",
			ops:  []gomodjsonpatch.Operation{op("add", "/c/10"), op("add", "/c/2"), op("add", "/c/9")},
			want: []string{"add /c/2", "add /c/9", "add /c/10"},
		},
		{
			name: "removals",
			ops:  []gomodjsonpatch.Operation{op("remove", "/c/2"), op("remove", "/c/10"), op("remove", "/c/9")},
			want: []string{"remove /c/10", "remove /c/9", "remove /c/2"},
		},
		{
			name: "removals in two arrays",
			ops:  []gomodjsonpatch.Operation{op("remove", "/a/2"), op("remove", "/b/10"), op("remove", "/a/10"), op("remove", "/b/2")},
			want: []string{"remove /a/10", "remove /a/2", "remove /b/10", "remove /b/2"},
		},
		{
			name: "parent before child",
			ops:  []gomodjsonpatch.Operation{op("add", "/m/x/y"), op("add", "/m/x"), op("replace", "/m")},
			want: []string{"replace /m", "add /m/x", "add /m/x/y"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sortOps(tc.ops)
			if got := opPaths(tc.ops); !slices.Equal(got, tc.want) {
				t.Errorf("sorted = %q, want %q", got, tc.want)
			}
		})
	}
}
