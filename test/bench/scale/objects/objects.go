// Package objects generates the scale benchmark's cluster: tenant
// Namespaces, EKS-like Nodes, Istio and Gateway API Gateways, the routes
// that bind them, and MutatingWebhookConfigurations, each the size of its
// counterpart in a real cluster (labels and annotations as Flux and EKS
// write them, a Node status with images, routes with a few rules, CA
// bundles). The same objects serve the benchmark (written into a real
// apiserver) and the cache transform's test.
package objects

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tenant is the name of tenant namespace i.
func Tenant(i int) string { return fmt.Sprintf("tenant-%05d", i) }

// Namespaces of the platform itself, where the shared Gateways live.
const (
	IstioIngress  = "istio-ingress"
	GatewaySystem = "gateway-system"
)

// TenantsPerGateway is how many tenants share one Gateway (of each API):
// 10,000 tenants on 1,000 Istio and 1,000 Gateway API Gateways.
const TenantsPerGateway = 10

// Namespace is tenant namespace i, as a Flux tenant kustomization writes it.
func Namespace(i int) *corev1.Namespace {
	t := fmt.Sprintf("t%05d", i)
	labels := map[string]string{
		"kubernetes.io/metadata.name":            Tenant(i),
		"kustomize.toolkit.fluxcd.io/name":       "tenants",
		"kustomize.toolkit.fluxcd.io/namespace":  "flux-system",
		"toolkit.fluxcd.io/tenant":               t,
		"platform.example.com/team":              fmt.Sprintf("team-%03d", i%300),
		"platform.example.com/environment":       "production",
		"app.kubernetes.io/managed-by":           "flux",
		"pod-security.kubernetes.io/enforce":     "restricted",
		"pod-security.kubernetes.io/enforce-ver": "latest",
	}
	if i%2 == 0 {
		labels["istio-injection"] = "enabled"
	}
	if i%4 == 0 {
		labels["flux-infra.io/admission-mode"] = "audit"
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Tenant(i), Labels: labels, Annotations: map[string]string{
		"platform.example.com/owner":                  fmt.Sprintf("team-%03d@example.com", i%300),
		"platform.example.com/cost-center":            fmt.Sprintf("CC-%05d", 10000+i%977),
		"platform.example.com/description":            "Tenant namespace provisioned by the platform team through the tenants Flux Kustomization; contact the owner before changing it.",
		"scheduler.alpha.kubernetes.io/node-selector": "eks.amazonaws.com/capacityType=ON_DEMAND",
	}}}
}

// System is a platform namespace (IstioIngress, GatewaySystem).
func System(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kustomize.toolkit.fluxcd.io/name": "infra", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}}
}
