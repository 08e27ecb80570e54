package policies

import (
	"net"
	"slices"
	"strings"
	"sync"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// GatewayIndex is the read-only look-up gateway-hosts checks against: every
// Gateway's hosts by the namespace they are authorized for, and the
// VirtualServices bound to each Gateway. The server keeps it up to date from
// informer events, review fills it from --context and the reviewed files.
//
// It is indexed so that a check costs the same with 10 or 10,000 Gateways and
// hosts: a Gateway is found by "namespace/name" in a map, and a host is
// matched against the hosts one namespace may use on it in two maps (exact
// hosts, and wildcard hosts by their suffix), one look-up per label of the
// host. A nil *GatewayIndex is an empty one: no Gateway exists.
//
// It is safe for concurrent use. Policies only read it; Set* and Delete*
// replace whole entries, so what a reader holds never changes under it.
type GatewayIndex struct {
	mu       sync.RWMutex
	gateways map[string]*gatewayAuth // by "namespace/name"
	// names are the Gateway names of each namespace, sorted (for a typo's
	// denial). A slice is replaced, never changed in place.
	names map[string][]string
	// bound are the VirtualServices bound to each Gateway (by "namespace/name"),
	// by "namespace/name" of the VirtualService.
	bound map[string]map[string]boundVirtualService
	// refs are the Gateways each VirtualService is bound to, to unbind it.
	refs map[string][]string
}

// NewGatewayIndex returns an empty index.
func NewGatewayIndex() *GatewayIndex {
	return &GatewayIndex{
		gateways: map[string]*gatewayAuth{},
		names:    map[string][]string{},
		bound:    map[string]map[string]boundVirtualService{},
		refs:     map[string][]string{},
	}
}

// SetGateway adds or replaces a Gateway. An unset namespace is "default".
func (x *GatewayIndex) SetGateway(gw *istionetworkingv1.Gateway) {
	if gw == nil {
		return
	}
	ns := namespaceOrDefault(gw.Namespace)
	auth := parseGateway(ns, gw.Name, gw)
	key := ns + "/" + gw.Name
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, known := x.gateways[key]; !known {
		names := x.names[ns]
		i, _ := slices.BinarySearch(names, gw.Name)
		x.names[ns] = slices.Insert(slices.Clip(names), i, gw.Name)
	}
	x.gateways[key] = auth
}

// DeleteGateway removes a Gateway.
func (x *GatewayIndex) DeleteGateway(namespace, name string) {
	namespace = namespaceOrDefault(namespace)
	key := namespace + "/" + name
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, known := x.gateways[key]; !known {
		return
	}
	delete(x.gateways, key)
	names := x.names[namespace]
	if i, found := slices.BinarySearch(names, name); found {
		names = slices.Delete(slices.Clone(names), i, i+1)
	}
	if len(names) == 0 {
		delete(x.names, namespace)
	} else {
		x.names[namespace] = names
	}
}

// SetVirtualService adds or replaces a VirtualService: the Gateways it binds
// (other than "mesh") and its hosts, for the warning on a Gateway change.
func (x *GatewayIndex) SetVirtualService(vs *istionetworkingv1.VirtualService) {
	if vs == nil {
		return
	}
	ns := namespaceOrDefault(vs.Namespace)
	key := ns + "/" + vs.Name
	entry := boundVirtualService{namespace: ns, name: vs.Name, hosts: slices.Clone(vs.Spec.Hosts)}
	var gateways []string
	for _, ref := range vs.Spec.Gateways {
		if ref == meshGateway {
			continue
		}
		if gw := resolveGatewayRef(ref, ns); !slices.Contains(gateways, gw) {
			gateways = append(gateways, gw)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unbind(key)
	for _, gw := range gateways {
		if x.bound[gw] == nil {
			x.bound[gw] = map[string]boundVirtualService{}
		}
		x.bound[gw][key] = entry
	}
	if len(gateways) > 0 {
		x.refs[key] = gateways
	}
}

// DeleteVirtualService removes a VirtualService.
func (x *GatewayIndex) DeleteVirtualService(namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unbind(namespaceOrDefault(namespace) + "/" + name)
}

func (x *GatewayIndex) unbind(vsKey string) {
	for _, gw := range x.refs[vsKey] {
		delete(x.bound[gw], vsKey)
		if len(x.bound[gw]) == 0 {
			delete(x.bound, gw)
		}
	}
	delete(x.refs, vsKey)
}

// gateway is the Gateway "namespace/name", or nil when it does not exist.
func (x *GatewayIndex) gateway(key string) *gatewayAuth {
	if x == nil {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gateways[key]
}

// gatewayNames are the names of the Gateways of a namespace, sorted. The
// caller must not change the slice.
func (x *GatewayIndex) gatewayNames(namespace string) []string {
	if x == nil {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.names[namespace]
}

// boundTo are the VirtualServices bound to a Gateway, sorted by namespace
// and name.
func (x *GatewayIndex) boundTo(key string) []boundVirtualService {
	if x == nil {
		return nil
	}
	x.mu.RLock()
	out := make([]boundVirtualService, 0, len(x.bound[key]))
	for _, vs := range x.bound[key] {
		out = append(out, vs)
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b boundVirtualService) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	return out
}

type boundVirtualService struct {
	namespace, name string
	hosts           []string
}

// Names Istio gives special meaning.
const (
	// meshGateway in a VirtualService's gateways means the sidecars of the mesh.
	meshGateway = "mesh"
	// anyNamespace keys the Gateway hosts any namespace may bind: those
	// written bare ("status.example.com") or as "*/status.example.com".
	anyNamespace = "*"
	// serviceDomain ends the host names of Kubernetes services, as Istio
	// expands a VirtualService's short host names (cluster domain cluster.local).
	serviceDomain = "svc.cluster.local"
)

// gatewayAuth is one Gateway, parsed: the hosts of all its servers by the
// namespace they are authorized for (a namespace name, or anyNamespace).
// It is never changed once built.
type gatewayAuth struct {
	namespace, name string
	hosts           map[string]*hostSet
}

// parseGateway reads the hosts of every server of a Gateway in Istio's
// syntax: "ns/host" authorizes namespace ns, "./host" the Gateway's own
// namespace, "*/host" and a bare "host" any namespace. The host part may be
// "*" (every host) or start with "*." (a wildcard). Hosts that are not in
// this form are left out (Istio's own validation refuses them).
func parseGateway(namespace, name string, gw *istionetworkingv1.Gateway) *gatewayAuth {
	g := &gatewayAuth{namespace: namespace, name: name, hosts: map[string]*hostSet{}}
	for _, server := range gw.Spec.Servers {
		if server == nil {
			continue
		}
		for _, h := range server.Hosts {
			ns, dns, found := strings.Cut(h, "/")
			if !found {
				ns, dns = anyNamespace, h
			}
			if ns == "." {
				ns = namespace
			}
			if ns == "" || dns == "" || strings.Contains(dns, "/") {
				continue
			}
			set := g.hosts[ns]
			if set == nil {
				set = &hostSet{exact: map[string]struct{}{}, wildcard: map[string]struct{}{}}
				g.hosts[ns] = set
			}
			set.add(parseHost(dns))
		}
	}
	for _, set := range g.hosts {
		slices.SortFunc(set.sorted, compareHosts)
	}
	return g
}

// authorizes reports whether namespace ns may bind host on the Gateway.
// With requireExplicit, hosts without a namespace are the Gateway's own
// namespace's only.
func (g *gatewayAuth) authorizes(ns string, host hostName, requireExplicit bool) bool {
	if g.hosts[ns].covers(host) {
		return true
	}
	return g.anyNamespaceFor(ns, requireExplicit) && g.hosts[anyNamespace].covers(host)
}

func (g *gatewayAuth) anyNamespaceFor(ns string, requireExplicit bool) bool {
	return !requireExplicit || ns == g.namespace
}

// allowed is what namespace ns may bind on the Gateway: the first max hosts
// in display order and how many there are in all. It costs O(max) plus the
// number of hosts open to any namespace, however many hosts ns has.
func (g *gatewayAuth) allowed(ns string, requireExplicit bool, max int) (first []string, total int) {
	own := g.hosts[ns]
	var any *hostSet
	if ns != anyNamespace && g.anyNamespaceFor(ns, requireExplicit) {
		any = g.hosts[anyNamespace]
	}
	a, b := own.list(), any.list()
	total = len(a)
	for _, h := range b {
		if !own.has(h) {
			total++
		}
	}
	for len(first) < max && (len(a) > 0 || len(b) > 0) {
		var next hostName
		switch {
		case len(b) == 0 || (len(a) > 0 && compareHosts(a[0], b[0]) <= 0):
			next, a = a[0], a[1:]
			if len(b) > 0 && b[0] == next {
				b = b[1:]
			}
		default:
			next, b = b[0], b[1:]
		}
		first = append(first, next.String())
	}
	return first, total
}

// hostName is a host, lower case: "*" (every host), a wildcard
// "*.a.example.com" or an exact name.
type hostName struct {
	all      bool
	wildcard bool
	name     string // without the "*." of a wildcard; "" for "*"
}

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

// covers reports whether the set covers every name h stands for, as Istio
// matches hosts: "*.a.example.com" covers "x.a.example.com",
// "y.x.a.example.com" and "*.x.a.example.com", not "a.example.com" nor
// "*.example.com". One map look-up per label of h.
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

// resolveGatewayRef is the "namespace/name" of a VirtualService's gateway
// reference, as Istio resolves it: "name" is in the VirtualService's own
// namespace, "./name" too, "ns/name" in ns, and the legacy
// "name.ns[.svc.cluster.local]" in ns.
func resolveGatewayRef(ref, namespace string) string {
	if before, after, found := strings.Cut(ref, "/"); found {
		if before == "." {
			return namespace + "/" + after
		}
		return ref
	}
	name, rest, found := strings.Cut(ref, ".")
	if !found {
		return namespace + "/" + ref
	}
	ns, _, _ := strings.Cut(rest, ".")
	return ns + "/" + name
}

// resolveShortName expands a VirtualService host without a dot to the
// service of that name in the VirtualService's namespace, as Istio does:
// "reviews" in tenant-a is "reviews.tenant-a.svc.cluster.local".
func resolveShortName(host, namespace string) string {
	if host == "*" || strings.Contains(host, ".") || net.ParseIP(host) != nil {
		return host
	}
	return host + "." + namespace + "." + serviceDomain
}

func namespaceOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}
