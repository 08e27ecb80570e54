package policies

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkJobProxy runs job-proxy, as the chain does (Refuse, then Mutate),
// on the corpus's Job pod in an Istio-injected namespace of a 1,000-Node
// cluster with one kubelet 1.32 (so Istio's proxy will be a regular
// container) and the seed's Istio webhooks plus a default tag: it adds the
// install init container and wraps the Job's one container.
func BenchmarkJobProxy(b *testing.B) {
	cfg := JobProxyConfig{HelperImage: "ghcr.io/flux-infra/platform-webhook:v0.1.0"}
	p := NewJobProxy(cfg)
	pod := &corev1.Pod{}
	req := benchObject(b, "job-pod-jobproxy", pod)
	req.NamespaceLabels = map[string]string{"kubernetes.io/metadata.name": "tenant-mesh", IstioInjectionLabel: "enabled"}
	kubelets := make([]string, 1000)
	for i := range kubelets {
		kubelets[i] = "v1.37.2-eks-113cf36"
	}
	kubelets[500] = "v1.32.4"
	req.Istio = istioWebhooks(b, seedWithDefault, kubelets...)
	pods := &freshPods{pod: pod}
	b.ReportAllocs()
	for b.Loop() {
		in := pods.next(b)
		if v := p.Refuse(req, in); len(v) != 0 {
			b.Fatalf("refused: %v", v)
		}
		if got := p.Mutate(req, in); len(got) != 2 {
			b.Fatalf("%d changes, want 2: %q", len(got), got)
		}
	}
}
