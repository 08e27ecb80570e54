package policies

import (
	"strings"

	"github.com/distribution/reference"
)

// mirrorBases are the repository prefixes of the mirror (the rules', "" for
// ROOT) under which a mirrored reference needs no second parse: for each,
// "<registry>/<prefix>/x" parses as a canonical reference in the registry.
//
// mirrorReference checks every image it builds by parsing it again
// (reference.ParseNamed): about half of image-rewrite's time per image
// (issue 26). What that parse can refuse in "<registry>/<prefix>/<path>
// [:tag][@digest]" is the registry and the prefix (checked here once per
// prefix), the whole name's length (checked per image) and the rest, which
// comes from a parsed reference and is valid: the path's components, the
// tag, the digest. So with a prefix of this set and a name within the limit
// the parse would pass, and it is left out; with any other prefix (those
// hostPrefix derives from hosts) the image is parsed again as before.
// TestMirrorBasesSkipOnlyWhatParses compares both ways on every test and
// fuzz seed image.
type mirrorBases map[string]bool

// newMirrorBases checks cfg's rule prefixes; policies build it once.
func newMirrorBases(cfg ImageConfig) mirrorBases {
	out := mirrorBases{}
	for host := range cfg.Prefixes {
		prefix, _, ok := cfg.rulePrefix(host)
		if !ok {
			continue
		}
		ref, err := reference.ParseNamed(mirrorName(cfg.Registry, prefix, "x"))
		if err == nil && strings.EqualFold(reference.Domain(ref), cfg.Registry) {
			out[prefix] = true
		}
	}
	return out
}

// mirrorName is "<registry>/<prefix>/<path>", or "<registry>/<path>" for
// the ROOT prefix "".
func mirrorName(registry, prefix, path string) string {
	if prefix == "" {
		return registry + "/" + path
	}
	return registry + "/" + prefix + "/" + path
}

// valid says whether a reference of that name, with a tag or digest taken
// from a parsed reference, is known to parse without parsing it.
func (b mirrorBases) valid(registry, prefix, path string) bool {
	return b[prefix] && len(mirrorName(registry, prefix, path)) <= reference.NameTotalLengthMax
}
