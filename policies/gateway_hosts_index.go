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
	unlink(x.bound, x.refs[vsKey], vsKey)
	delete(x.refs, vsKey)
}

// unlink removes item from the sets of m under keys, and the sets it leaves
// empty: both indexes keep reverse maps ("gateway" -> objects) so that a
// look-up costs the same however many objects there are.
func unlink[V any](m map[string]map[string]V, keys []string, item string) {
	for _, k := range keys {
		delete(m[k], item)
		if len(m[k]) == 0 {
			delete(m, k)
		}
	}
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

// parseGateway reads the hosts of every server of a Gateway (istioGrant)
// into one hostSet per audience: a namespace, or anyNamespace.
func parseGateway(namespace, name string, gw *istionetworkingv1.Gateway) *gatewayAuth {
	g := &gatewayAuth{namespace: namespace, name: name, hosts: map[string]*hostSet{}}
	for _, server := range gw.Spec.Servers {
		if server == nil {
			continue
		}
		for _, h := range server.Hosts {
			audience, dns, ok := istioGrant(h, namespace)
			if !ok {
				continue
			}
			ns := audience.namespace
			if audience.from == fromAny {
				ns = anyNamespace
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

// istioGrant reads a Gateway host in Istio's syntax as the core's audience
// and host: "ns/host" is for namespace ns, "./host" for the Gateway's own
// namespace, "*/host" and a bare "host" for any namespace. The host part may
// be "*" (every host) or start with "*." (a wildcard). A host not in this
// form is not a grant (Istio's own validation refuses it).
func istioGrant(h, gatewayNS string) (audience hostAudience, host string, ok bool) {
	ns, host, found := strings.Cut(h, "/")
	if !found {
		ns, host = anyNamespace, h
	}
	if ns == "." {
		ns = gatewayNS
	}
	switch {
	case ns == "" || host == "" || strings.Contains(host, "/"):
		return hostAudience{}, "", false
	case ns == anyNamespace:
		return hostAudience{from: fromAny}, host, true
	}
	return hostAudience{from: fromNamespace, namespace: ns}, host, true
}

// authorizes reports whether namespace ns may bind host on the Gateway.
func (g *gatewayAuth) authorizes(ns string, host hostName, requireExplicit bool) bool {
	if g.hosts[ns].covers(host) {
		return true
	}
	return g.anyNamespace(requireExplicit).admits(ns, nil) && g.hosts[anyNamespace].covers(host)
}

// anyNamespace is the audience of the hosts without a namespace: every
// namespace, or with requireExplicit the Gateway's own only (as "./host").
func (g *gatewayAuth) anyNamespace(requireExplicit bool) hostAudience {
	if requireExplicit {
		return hostAudience{from: fromNamespace, namespace: g.namespace}
	}
	return hostAudience{from: fromAny}
}

// allowed is what namespace ns may bind on the Gateway: the first max hosts
// in display order and how many there are in all. It costs O(max) plus the
// number of hosts open to any namespace, however many hosts ns has.
func (g *gatewayAuth) allowed(ns string, requireExplicit bool, max int) (first []string, total int) {
	own := g.hosts[ns]
	var any *hostSet
	if ns != anyNamespace && g.anyNamespace(requireExplicit).admits(ns, nil) {
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
