package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

func TestApplyPodImagesRewritten(t *testing.T) {
	namespace(t, "e2e-rewrite", nil)
	out, errOut := kubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: e2e-rewrite
spec:
  initContainers:
    - name: setup
      image: busybox:1.36
  containers:
    - name: web
      image: nginx:1.27
    - name: exporter
      image: quay.io/prometheus/node-exporter:v1.8.0
`, "apply", "-f", "-")
	if out != "pod/web created\n" || errOut != "" {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	pod := getPod(t, "e2e-rewrite", "web")
	want := map[string]string{
		"setup":    mirror + "/docker-hub/library/busybox:1.36",
		"web":      mirror + "/docker-hub/library/nginx:1.27",
		"exporter": mirror + "/quay.io/prometheus/node-exporter:v1.8.0",
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Image != want[c.Name] {
			t.Errorf("container %s: image %q, want %q", c.Name, c.Image, want[c.Name])
		}
	}
	wantAnnotation := `{"exporter":"quay.io/prometheus/node-exporter:v1.8.0","setup":"busybox:1.36","web":"nginx:1.27"}`
	if got := pod.Annotations[policies.OriginalImagesAnnotation]; got != wantAnnotation {
		t.Errorf("annotation %s = %q, want %q", policies.OriginalImagesAnnotation, got, wantAnnotation)
	}

	t.Run("kubectl debug mirrors the ephemeral container", func(t *testing.T) {
		kubectl(t, "", "debug", "-n", "e2e-rewrite", "web", "--image=busybox:1.36", "--container=debugger")
		pod := getPod(t, "e2e-rewrite", "web")
		if len(pod.Spec.EphemeralContainers) != 1 {
			t.Fatalf("ephemeral containers: %+v", pod.Spec.EphemeralContainers)
		}
		if got, want := pod.Spec.EphemeralContainers[0].Image, mirror+"/docker-hub/library/busybox:1.36"; got != want {
			t.Errorf("ephemeral image %q, want %q", got, want)
		}
	})
}

func TestAuditNamespaceWarnsAndChangesNothing(t *testing.T) {
	namespace(t, "e2e-audit", map[string]string{"flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, "e2e-audit")
	out, errOut := kubectl(t, podManifest("e2e-audit", "web", "nginx:1.27"), "apply", "-f", "-")
	wantErr := `Warning: [image-rewrite] would rewrite "nginx:1.27" to "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"
Warning: [image-registry] would deny: spec.containers[0].image: container "web" uses "nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")
`
	if out != "pod/web created\n" || errOut != wantErr {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantErr)
	}
	pod := getPod(t, "e2e-audit", "web")
	if got := pod.Spec.Containers[0].Image; got != "nginx:1.27" {
		t.Errorf("audit mode changed the image to %q", got)
	}
	if _, ok := pod.Annotations[policies.OriginalImagesAnnotation]; ok {
		t.Errorf("audit mode annotated the pod: %v", pod.Annotations)
	}
}

func TestImageRegistryDenial(t *testing.T) {
	namespace(t, "e2e-deny", nil)
	_, errOut, err := cluster.Kubectl(podManifest("e2e-deny", "shell", "Busybox:1.36"), "apply", "-f", "-")
	want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "image-registry.flux-infra.io" denied the request: [image-registry] spec.containers[0].image: container "shell" uses "Busybox:1.36" which is not a valid image reference (repository names are lower case)` + "\n"
	if err == nil || errOut != want {
		t.Fatalf("kubectl apply: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}
}

// TestReinvocation: Istio's own injector, installed under a configuration
// name that sorts after ours (the apiserver calls mutating configurations in
// name order: a second Istio install, or any injector named so), adds its
// containers after image-rewrite has run. The pod asks for an upstream proxy
// image (sidecar.istio.io/proxyImage), so only reinvocationPolicy: IfNeeded
// on image-rewrite mirrors it; image-registry then admits the pod.
func TestReinvocation(t *testing.T) {
	const ns = "e2e-reinvoke"
	namespace(t, ns, nil) // no Istio label: the regular injector configurations skip it
	ctx := context.Background()
	var tag admissionregistrationv1.MutatingWebhookConfiguration
	if err := cluster.Client.Get(ctx, client.ObjectKey{Name: "istio-revision-tag-stable"}, &tag); err != nil {
		t.Fatal(err)
	}
	// Istio's webhook, as rendered, selecting this namespace by name.
	hook := tag.Webhooks[0]
	hook.Name = "sidecar.zz-e2e.istio.io"
	hook.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-istio-after-platform-webhook"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{hook},
	}
	if err := cluster.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.Delete(ctx, cfg)
	const upstream = "docker.io/istio/proxyv2:" + harness.IstioTag
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: injected
  namespace: e2e-reinvoke
  annotations:
    sidecar.istio.io/proxyImage: ` + upstream + `
spec:
  containers:
    - name: app
      image: nginx:1.27
`
	// The apiserver picks up new webhook configurations asynchronously.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, err := cluster.Kubectl(pod, "apply", "--dry-run=server", "-f", "-", "-o", "json")
		if err == nil && proxyLayout(decodePod(t, out)) != "none" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the apiserver never called Istio's injector after ours")
		}
	}
	out, errOut := kubectl(t, pod, "apply", "-f", "-")
	if out != "pod/injected created\n" || errOut != "" {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	got := getPod(t, ns, "injected")
	var images []string
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		images = append(images, c.Name+"="+c.Image)
	}
	slices.Sort(images)
	// Istio's init container (istio-init) and proxy both use proxyImage.
	want := []string{"app=" + mirror + "/docker-hub/library/nginx:1.27", "istio-init=" + mirror + "/docker-hub/istio/proxyv2:" + harness.IstioTag,
		"istio-proxy=" + mirror + "/docker-hub/istio/proxyv2:" + harness.IstioTag}
	if !slices.Equal(images, want) {
		t.Errorf("images %q\nwant   %q", images, want)
	}
	if got, want := got.Annotations["platform-webhook.flux-infra.io/original-images"],
		`{"app":"nginx:1.27","istio-init":"`+upstream+`","istio-proxy":"`+upstream+`"}`; got != want {
		t.Errorf("original images %s\nwant %s", got, want)
	}
}

// TestWebhookUnreachable: with the webhook down, what happens is what
// manifests/webhook/README.md says: image-rewrite fails open (Ignore) but
// image-registry fails closed (Fail), so pods are refused until it is back;
// kube-system is outside the webhooks, so the cluster can still heal.
func TestWebhookUnreachable(t *testing.T) {
	namespace(t, "e2e-down", nil)
	cluster.StopWebhook()
	defer func() {
		if err := cluster.StartWebhook(cluster.ConfigPath()); err != nil {
			t.Fatalf("restart webhook: %v", err)
		}
	}()
	_, errOut, err := cluster.Kubectl(podManifest("e2e-down", "web", mirror+"/docker-hub/library/nginx:1.27"), "apply", "-f", "-")
	url := cluster.WebhookURL("/image-registry")
	port := strings.TrimPrefix(url[strings.LastIndex(url, ":"):], ":")
	port = port[:strings.Index(port, "/")]
	want := `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "image-registry.flux-infra.io": failed to call webhook: Post "` + url + `?timeout=5s": dial tcp 127.0.0.1:` + port + `: connect: connection refused` + "\n"
	if err == nil || errOut != want {
		t.Fatalf("kubectl apply with the webhook down: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}
	out, errOut := kubectl(t, podManifest("kube-system", "healer", "registry.k8s.io/pause:3.10"), "apply", "-f", "-")
	if out != "pod/healer created\n" || errOut != "" {
		t.Fatalf("kube-system pod with the webhook down: stdout %q stderr %q", out, errOut)
	}
	cluster.Kubectl("", "delete", "pod", "-n", "kube-system", "healer", "--wait=false")
}
