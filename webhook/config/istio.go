package config

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// UseIstio makes the pod chain (job-proxy) read what Istio's injector will
// do from c: the server's informer-fed IstioCluster, or review's --context.
// Call it before Endpoints, which copies the chains.
func (s Set) UseIstio(c *policies.IstioCluster) {
	s.Pods.Lookups = func(req *policies.Request) { req.Istio = c }
}

// IstioWatch keeps c up to date from informers on MutatingWebhookConfigurations
// (Istio's sidecar-injector ones, every revision and tag) and Nodes (their
// kubelet versions, for istiod's native-sidecar auto mode), both read-only.
// Nodes are cached slim (webhook.NewServer strips all but the kubelet
// version).
func IstioWatch(c *policies.IstioCluster) webhook.Watch {
	return func(ctx context.Context, ca cache.Cache) (func() bool, error) {
		configs, err := watch(ctx, ca, &admissionregistrationv1.MutatingWebhookConfiguration{},
			func(m *admissionregistrationv1.MutatingWebhookConfiguration) { c.SetWebhookConfiguration(m) },
			func(m *admissionregistrationv1.MutatingWebhookConfiguration) { c.DeleteWebhookConfiguration(m.Name) })
		if err != nil {
			return nil, fmt.Errorf("mutatingwebhookconfiguration informer: %w", err)
		}
		nodes, err := watch(ctx, ca, &corev1.Node{},
			func(n *corev1.Node) { c.SetNode(n.Name, n.Status.NodeInfo.KubeletVersion) },
			func(n *corev1.Node) { c.DeleteNode(n.Name) })
		if err != nil {
			return nil, fmt.Errorf("node informer: %w", err)
		}
		return func() bool { return configs.HasSynced() && nodes.HasSynced() }, nil
	}
}
