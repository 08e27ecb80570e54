package review

import (
	"sort"
	"strconv"
	"strings"

	gomodjsonpatch "gomodules.xyz/jsonpatch/v2"
)

// sortOps orders a patch so output is the same from run to run (CreatePatch
// walks maps in random order): by path, array indexes compared as numbers,
// removals from one array from the highest index down. CreatePatch's own
// operations on distinct map keys are independent, and within one array it
// emits removals high to low, additions low to high and element changes
// below both, so this order applies to the same result.
func sortOps(ops []gomodjsonpatch.Operation) {
	sort.SliceStable(ops, func(i, j int) bool {
		a, b := strings.Split(ops[i].Path, "/"), strings.Split(ops[j].Path, "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			x, errx := strconv.Atoi(a[k])
			y, erry := strconv.Atoi(b[k])
			if errx != nil || erry != nil {
				return a[k] < b[k]
			}
			if ops[i].Operation == "remove" && ops[j].Operation == "remove" && k == len(a)-1 && k == len(b)-1 {
				return x > y
			}
			return x < y
		}
		return len(a) < len(b)
	})
}
