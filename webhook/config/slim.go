package config

import (
	istioapi "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// CacheTransform is the server's informer transform (webhook.ServeOptions):
// of every object the look-ups read, the cache keeps only the fields their
// indexes are built from (Watches, IstioWatch), so that the webhook's memory
// follows the number of objects, not their size. At scale most of a cached
// object is what no policy reads: a Node's images and conditions, a route's
// rules, a webhook configuration's CA bundle, a Gateway's status. Every
// object keeps its name, namespace, UID and resource version (the informer's
// keys; the KindFollower removes a deleted kind's objects by name). What each
// kind keeps must follow the index code: TestCacheTransform builds the
// indexes and runs the policy from original and transformed objects and
// compares the answers.
func CacheTransform(o any) (any, error) {
	switch t := o.(type) {
	case *metav1.PartialObjectMetadata:
		// Namespaces (their labels: the mode, Istio's injection, listener
		// selectors) and CRDs (their names): annotations and owners are unread.
		return &metav1.PartialObjectMetadata{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, true)}, nil
	case *corev1.Node:
		// job-proxy reads the kubelet version (Istio's native-sidecar check).
		return &corev1.Node{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false),
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: t.Status.NodeInfo.KubeletVersion}}}, nil
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return slimWebhookConfiguration(t), nil
	case *istionetworkingv1.Gateway:
		return slimIstioGateway(t), nil
	case *istionetworkingv1.VirtualService:
		// The index reads the hosts and the gateways a VirtualService binds.
		return &istionetworkingv1.VirtualService{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false),
			Spec: istioapi.VirtualService{Hosts: t.Spec.Hosts, Gateways: t.Spec.Gateways}}, nil
	case *gatewayv1.Gateway:
		return slimAPIGateway(t), nil
	case *gatewayv1.HTTPRoute:
		// Routes count by their parents and hostnames; rules are unread.
		return &gatewayv1.HTTPRoute{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false),
			Spec: gatewayv1.HTTPRouteSpec{CommonRouteSpec: t.Spec.CommonRouteSpec, Hostnames: t.Spec.Hostnames}}, nil
	case *gatewayv1.GRPCRoute:
		return &gatewayv1.GRPCRoute{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false),
			Spec: gatewayv1.GRPCRouteSpec{CommonRouteSpec: t.Spec.CommonRouteSpec, Hostnames: t.Spec.Hostnames}}, nil
	case *gatewayv1.TLSRoute:
		return &gatewayv1.TLSRoute{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false),
			Spec: gatewayv1.TLSRouteSpec{CommonRouteSpec: t.Spec.CommonRouteSpec, Hostnames: t.Spec.Hostnames}}, nil
	case *gatewayv1.ListenerSet:
		// ListenerSetRoutes reads the parent and the listeners' hostnames:
		// the spec is small, its status is not.
		return &gatewayv1.ListenerSet{TypeMeta: t.TypeMeta, ObjectMeta: slimMeta(t.ObjectMeta, false), Spec: t.Spec}, nil
	}
	return o, nil
}

// slimMeta keeps an object's identity, and its labels when asked.
func slimMeta(m metav1.ObjectMeta, labels bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
	if labels {
		out.Labels = m.Labels
	}
	return out
}

// slimWebhookConfiguration keeps what IstioCluster.SetWebhookConfiguration
// reads of each webhook: its name, rules and selectors. The client config
// (a CA bundle of a kilobyte or more per webhook) is unread.
func slimWebhookConfiguration(m *admissionregistrationv1.MutatingWebhookConfiguration) *admissionregistrationv1.MutatingWebhookConfiguration {
	out := &admissionregistrationv1.MutatingWebhookConfiguration{TypeMeta: m.TypeMeta, ObjectMeta: slimMeta(m.ObjectMeta, false)}
	if m.Webhooks != nil {
		out.Webhooks = make([]admissionregistrationv1.MutatingWebhook, len(m.Webhooks))
	}
	for i, w := range m.Webhooks {
		out.Webhooks[i] = admissionregistrationv1.MutatingWebhook{Name: w.Name, Rules: w.Rules,
			NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector}
	}
	return out
}

// slimIstioGateway keeps the hosts of every server (parseGateway): ports,
// TLS settings and the selector are unread.
func slimIstioGateway(gw *istionetworkingv1.Gateway) *istionetworkingv1.Gateway {
	out := &istionetworkingv1.Gateway{TypeMeta: gw.TypeMeta, ObjectMeta: slimMeta(gw.ObjectMeta, false)}
	if gw.Spec.Servers != nil {
		out.Spec.Servers = make([]*istioapi.Server, len(gw.Spec.Servers))
	}
	for i, s := range gw.Spec.Servers {
		if s != nil {
			out.Spec.Servers[i] = &istioapi.Server{Hosts: s.Hosts}
		}
	}
	return out
}

// slimAPIGateway keeps what gateway-hosts reads of each listener (its name,
// port, protocol, hostname and allowed routes): TLS certificate references,
// addresses, infrastructure and status are unread. The index keeps a copy of
// the Gateway, so this shrinks both.
func slimAPIGateway(gw *gatewayv1.Gateway) *gatewayv1.Gateway {
	out := &gatewayv1.Gateway{TypeMeta: gw.TypeMeta, ObjectMeta: slimMeta(gw.ObjectMeta, false)}
	if gw.Spec.Listeners != nil {
		out.Spec.Listeners = make([]gatewayv1.Listener, len(gw.Spec.Listeners))
	}
	for i, l := range gw.Spec.Listeners {
		out.Spec.Listeners[i] = gatewayv1.Listener{Name: l.Name, Hostname: l.Hostname, Port: l.Port,
			Protocol: l.Protocol, AllowedRoutes: l.AllowedRoutes}
	}
	return out
}
