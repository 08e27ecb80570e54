package policies

import (
	"slices"
	"strings"
	"sync"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GatewayAPIIndex holds the cluster's Gateway API Gateways by
// "namespace/name": the server's informer keeps it, review fills it from
// --context and its inputs. Safe for concurrent use.
type GatewayAPIIndex struct {
	mu       sync.RWMutex
	gateways map[string]*gatewayv1.Gateway
	// routes: "Kind/namespace/name" -> the hostname keys it uses; byHost:
	// "gateway key|hostname" -> the routes using it, so that an ownership
	// check costs the same with 10 or 10,000 routes.
	routes map[string][]string
	byHost map[string]map[string]bool
	// details of each route, the routes per Gateway, and the namespaces'
	// labels: what a Gateway change is checked against (Warn).
	details   map[string]apiRoute
	byGateway map[string]map[string]bool
	nsLabels  map[string]map[string]string
}

// apiRoute is what the index keeps of a route for Gateway changes.
type apiRoute struct {
	kind, namespace, name string
	parents               []gatewayv1.ParentReference
	hostnames             []string
}

// SetNamespaceLabels records a namespace's labels (for listeners'
// Selectors, when a Gateway changes).
func (x *GatewayAPIIndex) SetNamespaceLabels(ns string, l map[string]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nsLabels[ns] = l
}

// DeleteNamespace forgets a namespace's labels.
func (x *GatewayAPIIndex) DeleteNamespace(ns string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.nsLabels, ns)
}

// NewGatewayAPIIndex returns an empty index.
func NewGatewayAPIIndex() *GatewayAPIIndex {
	return &GatewayAPIIndex{gateways: map[string]*gatewayv1.Gateway{}, routes: map[string][]string{}, byHost: map[string]map[string]bool{},
		details: map[string]apiRoute{}, byGateway: map[string]map[string]bool{}, nsLabels: map[string]map[string]string{}}
}

// SetRoute records (or replaces) the hostnames a route uses on the Gateways
// it names as parents.
func (x *GatewayAPIIndex) SetRoute(kind, namespace, name string, common gatewayv1.CommonRouteSpec, hostnames []gatewayv1.Hostname) {
	namespace = namespaceOrDefault(namespace)
	rkey := kind + "/" + namespace + "/" + name
	var keys, gateways []string
	d := apiRoute{kind: kind, namespace: namespace, name: name}
	for _, h := range hostnames {
		d.hostnames = append(d.hostnames, string(h))
	}
	for _, ref := range common.ParentRefs {
		if !isGatewayRef(ref) {
			continue
		}
		d.parents = append(d.parents, ref)
		_, gw := parentKey(namespace, ref)
		gateways = append(gateways, gw)
		for _, h := range hostnames {
			k := gw + "|" + strings.ToLower(string(h))
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetRoute(rkey)
	x.routes[rkey] = keys
	for _, k := range keys {
		if x.byHost[k] == nil {
			x.byHost[k] = map[string]bool{}
		}
		x.byHost[k][rkey] = true
	}
	x.details[rkey] = d
	for _, g := range gateways {
		if x.byGateway[g] == nil {
			x.byGateway[g] = map[string]bool{}
		}
		x.byGateway[g][rkey] = true
	}
}

// DeleteRoute forgets a route.
func (x *GatewayAPIIndex) DeleteRoute(kind, namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetRoute(kind + "/" + namespaceOrDefault(namespace) + "/" + name)
}

func (x *GatewayAPIIndex) forgetRoute(rkey string) {
	unlink(x.byHost, x.routes[rkey], rkey)
	delete(x.routes, rkey)
	for g, set := range x.byGateway {
		if set[rkey] {
			delete(set, rkey)
			if len(set) == 0 {
				delete(x.byGateway, g)
			}
		}
	}
	delete(x.details, rkey)
}

// attached is the routes (and ListenerSets) naming the Gateway gwKey as a
// parent, sorted, with their namespaces' labels.
func (x *GatewayAPIIndex) attached(gwKey string) ([]apiRoute, map[string]map[string]string) {
	if x == nil {
		return nil, nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	keys := make([]string, 0, len(x.byGateway[gwKey]))
	for k := range x.byGateway[gwKey] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]apiRoute, 0, len(keys))
	labels := map[string]map[string]string{}
	for _, k := range keys {
		d := x.details[k]
		out = append(out, d)
		labels[d.namespace] = x.nsLabels[d.namespace]
	}
	return out, labels
}

// owner is the first route (by kind, namespace, name) of another namespace
// than ns that uses hostname on the Gateway gwKey: "HTTPRoute tenant-a/shop".
func (x *GatewayAPIIndex) owner(gwKey, hostname, ns string) string {
	if x == nil {
		return ""
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var others []string
	for rkey := range x.byHost[gwKey+"|"+strings.ToLower(hostname)] {
		parts := strings.SplitN(rkey, "/", 3)
		if parts[1] != ns {
			others = append(others, rkey)
		}
	}
	if len(others) == 0 {
		return ""
	}
	slices.Sort(others)
	parts := strings.SplitN(others[0], "/", 2)
	return parts[0] + " " + parts[1]
}

// SetGateway records (or replaces) a Gateway.
func (x *GatewayAPIIndex) SetGateway(gw *gatewayv1.Gateway) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gateways[namespaceOrDefault(gw.Namespace)+"/"+gw.Name] = gw.DeepCopy()
}

// DeleteGateway forgets a Gateway.
func (x *GatewayAPIIndex) DeleteGateway(namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.gateways, namespaceOrDefault(namespace)+"/"+name)
}

func (x *GatewayAPIIndex) get(key string) *gatewayv1.Gateway {
	if x == nil {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gateways[key]
}

// ListenerSetRoutes is how the index records a ListenerSet's hostnames (as
// a route on its parent Gateway), so that they are owned as routes' are.
func ListenerSetRoutes(ls *gatewayv1.ListenerSet) (gatewayv1.CommonRouteSpec, []gatewayv1.Hostname) {
	ref := ls.Spec.ParentRef
	common := gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Group: ref.Group, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}}}
	var hostnames []gatewayv1.Hostname
	for _, l := range ls.Spec.Listeners {
		if l.Hostname != nil && *l.Hostname != "" {
			hostnames = append(hostnames, *l.Hostname)
		}
	}
	return common, hostnames
}
