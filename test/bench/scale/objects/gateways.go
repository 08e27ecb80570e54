package objects

import (
	"fmt"
	"time"

	istioapi "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// fluxMeta is the metadata Flux's kustomize-controller writes on what it applies.
func fluxMeta(name, namespace, ks string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{"kustomize.toolkit.fluxcd.io/name": ks, "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
			"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "platform"},
		Annotations: map[string]string{"platform.example.com/owner": "platform-team@example.com",
			"kustomize.toolkit.fluxcd.io/reconcile": "enabled"}}
}

// IstioGateway is shared Istio Gateway g in IstioIngress: for each of its
// TenantsPerGateway tenants an HTTPS server for the tenant's hosts, and
// one plain HTTP server redirecting them all.
func IstioGateway(g int) *istionetworkingv1.Gateway {
	gw := &istionetworkingv1.Gateway{ObjectMeta: fluxMeta(fmt.Sprintf("public-%04d", g), IstioIngress, "ingress")}
	gw.Spec.Selector = map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}
	var all []string
	for t := g * TenantsPerGateway; t < (g+1)*TenantsPerGateway; t++ {
		hosts := []string{fmt.Sprintf("%s/t%05d.example.com", Tenant(t), t), fmt.Sprintf("%s/*.t%05d.example.com", Tenant(t), t)}
		all = append(all, hosts...)
		gw.Spec.Servers = append(gw.Spec.Servers, &istioapi.Server{Name: fmt.Sprintf("https-t%05d", t),
			Port:  &istioapi.Port{Number: 443, Protocol: "HTTPS", Name: fmt.Sprintf("https-t%05d", t)},
			Hosts: hosts,
			Tls: &istioapi.ServerTLSSettings{Mode: istioapi.ServerTLSSettings_SIMPLE, CredentialName: fmt.Sprintf("t%05d-example-com-tls", t),
				MinProtocolVersion: istioapi.ServerTLSSettings_TLSV1_2}})
	}
	gw.Spec.Servers = append(gw.Spec.Servers, &istioapi.Server{Name: "http", Port: &istioapi.Port{Number: 80, Protocol: "HTTP", Name: "http"},
		Hosts: all, Tls: &istioapi.ServerTLSSettings{HttpsRedirect: true}})
	return gw
}

// VirtualService is tenant t's VirtualService: two hosts on its shared
// Gateway, three HTTP routes with retries, timeouts and headers.
func VirtualService(t int) *istionetworkingv1.VirtualService {
	vs := &istionetworkingv1.VirtualService{ObjectMeta: fluxMeta("web", Tenant(t), "apps")}
	vs.Spec.Hosts = []string{fmt.Sprintf("t%05d.example.com", t), fmt.Sprintf("api.t%05d.example.com", t)}
	vs.Spec.Gateways = []string{fmt.Sprintf("%s/public-%04d", IstioIngress, t/TenantsPerGateway), "mesh"}
	for k, prefix := range []string{"/api/", "/static/", "/"} {
		host := fmt.Sprintf("svc-%d.%s.svc.cluster.local", k, Tenant(t))
		vs.Spec.Http = append(vs.Spec.Http, &istioapi.HTTPRoute{Name: fmt.Sprintf("route-%d", k),
			Match: []*istioapi.HTTPMatchRequest{{Uri: &istioapi.StringMatch{MatchType: &istioapi.StringMatch_Prefix{Prefix: prefix}}}},
			Route: []*istioapi.HTTPRouteDestination{
				{Destination: &istioapi.Destination{Host: host, Subset: "stable", Port: &istioapi.PortSelector{Number: 8080}}, Weight: 90},
				{Destination: &istioapi.Destination{Host: host, Subset: "canary", Port: &istioapi.PortSelector{Number: 8080}}, Weight: 10}},
			Retries: &istioapi.HTTPRetry{Attempts: 3, RetryOn: "gateway-error,connect-failure,refused-stream"},
			Headers: &istioapi.Headers{Request: &istioapi.Headers_HeaderOperations{Set: map[string]string{"x-tenant": Tenant(t)}}}})
	}
	return vs
}

// APIGateway is shared Gateway API Gateway g in GatewaySystem: an HTTPS
// listener per tenant (its hostname, its certificate, its namespace
// only), with the status its controller writes.
func APIGateway(g int) *gatewayv1.Gateway {
	gw := &gatewayv1.Gateway{ObjectMeta: fluxMeta(fmt.Sprintf("shared-%04d", g), GatewaySystem, "gateways")}
	gw.Spec.GatewayClassName = "istio"
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	cond := func(t, reason string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: "Resource " + reason, LastTransitionTime: now, ObservedGeneration: 1}
	}
	for t := g * TenantsPerGateway; t < (g+1)*TenantsPerGateway; t++ {
		name := gatewayv1.SectionName(fmt.Sprintf("t%05d", t))
		gw.Spec.Listeners = append(gw.Spec.Listeners, gatewayv1.Listener{Name: name,
			Hostname: ptr.To(gatewayv1.Hostname(fmt.Sprintf("*.t%05d.example.org", t))), Port: 443, Protocol: gatewayv1.HTTPSProtocolType,
			TLS: &gatewayv1.ListenerTLSConfig{Mode: ptr.To(gatewayv1.TLSModeTerminate),
				CertificateRefs: []gatewayv1.SecretObjectReference{{Name: gatewayv1.ObjectName(fmt.Sprintf("t%05d-example-org-tls", t))}}},
			AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: ptr.To(gatewayv1.NamespacesFromSelector),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": Tenant(t)}}}}})
		gw.Status.Listeners = append(gw.Status.Listeners, gatewayv1.ListenerStatus{Name: name, AttachedRoutes: 1,
			SupportedKinds: []gatewayv1.RouteGroupKind{{Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: "HTTPRoute"},
				{Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: "GRPCRoute"}},
			Conditions: []metav1.Condition{cond("Accepted", "Accepted"), cond("Programmed", "Programmed"),
				cond("ResolvedRefs", "ResolvedRefs"), cond("Conflicted", "NoConflicts")}})
	}
	gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: ptr.To(gatewayv1.HostnameAddressType),
		Value: fmt.Sprintf("k8s-gateway-shared%04d-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com", g)}}
	gw.Status.Conditions = []metav1.Condition{cond("Accepted", "Accepted"), cond("Programmed", "Programmed")}
	return gw
}

// HTTPRoute is tenant t's HTTPRoute on its listener of the shared Gateway:
// three rules with matches, a header filter, weighted backends, timeouts.
func HTTPRoute(t int) *gatewayv1.HTTPRoute {
	r := &gatewayv1.HTTPRoute{ObjectMeta: fluxMeta("web", Tenant(t), "apps")}
	r.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: gatewayv1.ObjectName(fmt.Sprintf("shared-%04d", t/TenantsPerGateway)),
		Namespace: ptr.To(gatewayv1.Namespace(GatewaySystem)), SectionName: ptr.To(gatewayv1.SectionName(fmt.Sprintf("t%05d", t)))}}
	r.Spec.Hostnames = []gatewayv1.Hostname{gatewayv1.Hostname(fmt.Sprintf("www.t%05d.example.org", t)),
		gatewayv1.Hostname(fmt.Sprintf("api.t%05d.example.org", t))}
	for k, prefix := range []string{"/api/", "/static/", "/"} {
		backend := func(name string, weight int32) gatewayv1.HTTPBackendRef {
			return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{Weight: ptr.To(weight),
				BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr.To(gatewayv1.PortNumber(8080))}}}
		}
		r.Spec.Rules = append(r.Spec.Rules, gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(prefix)}}},
			Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier,
				RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{Set: []gatewayv1.HTTPHeader{{Name: "x-tenant", Value: Tenant(t)}}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend(fmt.Sprintf("svc-%d", k), 90), backend(fmt.Sprintf("svc-%d-canary", k), 10)},
			Timeouts:    &gatewayv1.HTTPRouteTimeouts{Request: ptr.To(gatewayv1.Duration("10s"))}})
	}
	return r
}
