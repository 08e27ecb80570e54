package objects

import (
	"fmt"
	"net"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"
)

// CABundle is a self-signed CA certificate in PEM, the size of the ones
// cert-manager's CA injector writes into webhook configurations.
func CABundle() ([]byte, error) {
	cert, _, err := certutil.GenerateSelfSignedCertKey("webhook-ca.example.com", []net.IP{net.ParseIP("127.0.0.1")}, []string{"webhook.example.svc"})
	return cert, err
}

// istioConfigs is how many of the configurations are Istio's injector
// (revisions and tags); the others are other products' webhooks.
const istioConfigs = 4

// WebhookConfiguration is MutatingWebhookConfiguration i: two webhooks
// with a CA bundle each, rules, selectors. The first istioConfigs are
// Istio's sidecar injector (on pods); the others match a kind of their own
// that nothing creates, so the apiserver never calls them. Every webhook
// fails open: the benchmark's cluster has no webhook server behind them.
func WebhookConfiguration(i int, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{
		Name:   fmt.Sprintf("product-%03d-webhook", i),
		Labels: map[string]string{"app.kubernetes.io/name": fmt.Sprintf("product-%03d", i), "app.kubernetes.io/managed-by": "Helm"},
		Annotations: map[string]string{"cert-manager.io/inject-ca-from": fmt.Sprintf("product-%03d/product-%03d-serving-cert", i, i),
			"meta.helm.sh/release-name": fmt.Sprintf("product-%03d", i), "meta.helm.sh/release-namespace": fmt.Sprintf("product-%03d", i)}}}
	names := []string{fmt.Sprintf("default.product-%03d.example.com", i), fmt.Sprintf("strict.product-%03d.example.com", i)}
	rule := admissionregistrationv1.Rule{APIGroups: []string{fmt.Sprintf("product-%03d.example.com", i)}, APIVersions: []string{"v1", "v1beta1"},
		Resources: []string{"widgets", "widgets/status"}, Scope: ptr.To(admissionregistrationv1.AllScopes)}
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "kube-public"}}}}
	if i < istioConfigs {
		m.Name = fmt.Sprintf("istio-sidecar-injector-rev-%d", i)
		names = []string{"rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io"}
		rule = admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}
		selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{fmt.Sprintf("rev-%d", i)}},
			{Key: "istio-injection", Operator: metav1.LabelSelectorOpDoesNotExist}}}
	}
	for _, name := range names {
		m.Webhooks = append(m.Webhooks, admissionregistrationv1.MutatingWebhook{Name: name,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caBundle, Service: &admissionregistrationv1.ServiceReference{
				Namespace: fmt.Sprintf("product-%03d", i), Name: "webhook", Path: ptr.To("/mutate"), Port: ptr.To[int32](443)}},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, Rule: rule}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       selector,
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](10),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
		})
	}
	return m
}
