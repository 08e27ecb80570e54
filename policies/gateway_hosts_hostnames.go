package policies

import "strings"

// Hostname matching with wildcards, for both APIs: hostName and its two
// relations, and hostSet, the indexed form of covers.

// hostName is a host, lower case: "*" (every host), a wildcard
// "*.a.example.com" or an exact name.
type hostName struct {
	all      bool
	wildcard bool
	name     string // without the "*." of a wildcard; "" for "*"
}

// parseHost reads a host as Istio writes it, where "*" is every host.
func parseHost(h string) hostName {
	h = strings.ToLower(h)
	switch {
	case h == "*":
		return hostName{all: true}
	case strings.HasPrefix(h, "*."):
		return hostName{wildcard: true, name: h[2:]}
	}
	return hostName{name: h}
}

func (h hostName) String() string {
	switch {
	case h.all:
		return "*"
	case h.wildcard:
		return "*." + h.name
	}
	return h.name
}

// compareHosts is the order hosts are listed in: by name, "*" first, a host
// before its wildcard ("a.example.com", "*.a.example.com", "b.example.com").
func compareHosts(a, b hostName) int {
	if a.all != b.all {
		if a.all {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	switch {
	case a.wildcard == b.wildcard:
		return 0
	case b.wildcard:
		return -1
	}
	return 1
}

// covers reports whether every name h stands for is one p stands for: how
// Istio matches a VirtualService host against a Gateway's (hostSet.covers,
// indexed), and how a ListenerSet listener's hostname must sit under a
// Gateway listener's. "*.a.example.com" covers "x.a.example.com",
// "y.x.a.example.com" and "*.x.a.example.com", not "a.example.com" nor
// "*.example.com"; "*" covers everything.
func (p hostName) covers(h hostName) bool {
	switch {
	case p.all:
		return true
	case h.all:
		return false
	case !p.wildcard:
		return !h.wildcard && h.name == p.name
	case h.wildcard && h.name == p.name:
		return true
	}
	// A suffix on whole labels: h.name ends with "." + p.name, after at
	// least one label when h is an exact name (hostSet, Istio's index, also
	// takes ".a.example.com", which no valid host name is).
	dot := len(h.name) - len(p.name) - 1
	return dot >= 0 && h.name[dot] == '.' && h.name[dot+1:] == p.name && (h.wildcard || dot > 0)
}

// intersects reports whether a and b have a name in common, as the Gateway
// API matches a listener's hostname and a route's (the Hostnames field of
// HTTPRoute, apis/v1/httproute_types.go): exact names are equal; a wildcard
// "*.example.com" is a suffix match on whole labels, so it covers
// "test.example.com" and "foo.test.example.com" but not "example.com";
// between two wildcards, one must cover the other.
func (a hostName) intersects(b hostName) bool {
	return a.covers(b) || b.covers(a)
}

// hostSet is the hosts one namespace may bind on one Gateway.
type hostSet struct {
	all      bool                // "*": every host
	exact    map[string]struct{} // "shop.a.example.com"
	wildcard map[string]struct{} // "*.a.example.com", by "a.example.com"
	sorted   []hostName          // each once, in display order
}

func (s *hostSet) add(h hostName) {
	if s.has(h) {
		return
	}
	switch {
	case h.all:
		s.all = true
	case h.wildcard:
		s.wildcard[h.name] = struct{}{}
	default:
		s.exact[h.name] = struct{}{}
	}
	s.sorted = append(s.sorted, h)
}

// has reports whether h itself is in the set (not whether it is covered).
func (s *hostSet) has(h hostName) bool {
	if s == nil {
		return false
	}
	var ok bool
	switch {
	case h.all:
		ok = s.all
	case h.wildcard:
		_, ok = s.wildcard[h.name]
	default:
		_, ok = s.exact[h.name]
	}
	return ok
}

func (s *hostSet) list() []hostName {
	if s == nil {
		return nil
	}
	return s.sorted
}

// covers reports whether a host of the set covers h (hostName.covers),
// with one map look-up per label of h however many hosts the set has.
func (s *hostSet) covers(h hostName) bool {
	switch {
	case s == nil:
		return false
	case s.all:
		return true
	case h.all:
		return false
	}
	name := h.name
	if h.wildcard {
		if _, ok := s.wildcard[name]; ok {
			return true
		}
	} else if _, ok := s.exact[name]; ok {
		return true
	}
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return false
		}
		name = name[i+1:]
		if _, ok := s.wildcard[name]; ok {
			return true
		}
	}
}
