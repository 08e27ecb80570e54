package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pods as the real controllers create them (kube-controller-manager runs in
// the harness): through the webhooks, after the ServiceAccount admission
// plugin, with the controllers' own labels and owner references.

// controllerPods waits until pods matching selector exist in ns (30 s) and
// returns them.
func controllerPods(t *testing.T, ns, selector string, want int) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var list corev1.PodList
	for time.Now().Before(deadline) {
		out, _ := kubectl(t, "", "get", "pods", "-n", ns, "-l", selector, "-o", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("decode pods: %v", err)
		}
		if len(list.Items) >= want {
			return list.Items
		}
		time.Sleep(200 * time.Millisecond)
	}
	events, _, _ := cluster.Kubectl("", "get", "events", "-n", ns)
	t.Fatalf("%d pods with %s in %s after 30s, want %d; events:\n%s", len(list.Items), selector, ns, want, events)
	return nil
}

func owner(pod corev1.Pod) string {
	for _, r := range pod.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.Kind + "/" + r.Name
		}
	}
	return ""
}

func TestDeploymentPodsFromTheControllers(t *testing.T) {
	const ns = "e2e-deploy"
	namespace(t, ns, nil)
	out, errOut := kubectl(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: `+ns+`
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
        - name: setup
          image: busybox:1.36
      containers:
        - name: web
          image: nginx:1.27
`, "apply", "-f", "-")
	if out != "deployment.apps/web created\n" || errOut != "" {
		t.Fatalf("kubectl apply: stdout %q stderr %q", out, errOut)
	}
	// The Deployment itself is stored as written: the server never patches
	// workloads, only the pods they create (no drift for GitOps).
	if image, _ := kubectl(t, "", "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"); image != "nginx:1.27" {
		t.Errorf("the Deployment's template image is %q, want it as applied", image)
	}
	rs, _ := kubectl(t, "", "get", "replicasets", "-n", ns, "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}")
	if !strings.HasPrefix(rs, "web-") || strings.Contains(rs, " ") {
		t.Fatalf("ReplicaSets %q, want one web-<hash>", rs)
	}
	pods := controllerPods(t, ns, "app=web", 2)
	for _, pod := range pods {
		if got, want := owner(pod), "ReplicaSet/"+rs; got != want {
			t.Errorf("pod %s: owner %q, want %q", pod.Name, got, want)
		}
		if got, want := pod.Spec.InitContainers[0].Image+" "+pod.Spec.Containers[0].Image,
			mirror+"/docker-hub/library/busybox:1.36 "+mirror+"/docker-hub/library/nginx:1.27"; got != want {
			t.Errorf("pod %s: images %q, want %q", pod.Name, got, want)
		}
		if got, want := pod.Annotations["platform-webhook.flux-infra.io/original-images"], `{"setup":"busybox:1.36","web":"nginx:1.27"}`; got != want {
			t.Errorf("pod %s: original images %q, want %q", pod.Name, got, want)
		}
		// The ServiceAccount admission plugin ran: the namespace's default
		// account (made by the controller) and its projected token volume.
		if pod.Spec.ServiceAccountName != "default" || !hasTokenVolume(pod) {
			t.Errorf("pod %s: service account %q, volumes %+v; want default with its token volume", pod.Name, pod.Spec.ServiceAccountName, pod.Spec.Volumes)
		}
	}
}

func hasTokenVolume(pod corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil {
			return true
		}
	}
	return false
}
