package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
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

// TestReinvocation: a test-only mutating webhook, called after ours (the
// apiserver orders configurations by name), adds a sidecar the way Istio's
// injector does. reinvocationPolicy: IfNeeded on image-rewrite makes the
// apiserver call us again, so the sidecar's image is mirrored too and
// image-registry admits the pod.
func TestReinvocation(t *testing.T) {
	namespace(t, "e2e-reinvoke", nil)
	scheme := runtime.NewScheme()
	clientgoscheme.AddToScheme(scheme)
	decoder := admission.NewDecoder(scheme)
	injector := &admission.Webhook{Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		pod := &corev1.Pod{}
		if err := decoder.Decode(req, pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		for _, c := range pod.Spec.Containers {
			if c.Name == "sidecar" {
				return admission.Allowed("already injected")
			}
		}
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar", Image: "docker.io/istio/proxyv2:1.24.0"})
		marshaled, _ := json.Marshal(pod)
		return admission.PatchResponseFromRaw(req.Object.Raw, marshaled)
	})}
	srv := httptest.NewUnstartedServer(injector)
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-test-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "sidecar.test.flux-infra.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/inject"), CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-inject": "true"}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}
	ctx := context.Background()
	if err := cluster.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.Delete(ctx, cfg)
	// The apiserver picks up new webhook configurations asynchronously.
	time.Sleep(2 * time.Second)

	out, errOut := kubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: injected
  namespace: e2e-reinvoke
  labels:
    e2e-inject: "true"
spec:
  containers:
    - name: app
      image: nginx:1.27
`, "apply", "-f", "-")
	if out != "pod/injected created\n" || errOut != "" {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	pod := getPod(t, "e2e-reinvoke", "injected")
	var images []string
	for _, c := range pod.Spec.Containers {
		images = append(images, c.Name+"="+c.Image)
	}
	want := "app=" + mirror + "/docker-hub/library/nginx:1.27 sidecar=" + mirror + "/docker-hub/istio/proxyv2:1.24.0"
	if got := strings.Join(images, " "); got != want {
		t.Errorf("images %s\nwant   %s", got, want)
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
