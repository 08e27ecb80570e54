package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// kubectl runs kubectl and fails the test when it fails.
func kubectl(t *testing.T, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, err := cluster.Kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out, errOut
}

// namespace creates a namespace with labels and deletes it at the end.
func namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	var l strings.Builder
	for k, v := range labels {
		fmt.Fprintf(&l, "    %s: %q\n", k, v)
	}
	manifest := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
	if l.Len() > 0 {
		manifest += "  labels:\n" + l.String()
	}
	kubectl(t, manifest, "apply", "-f", "-")
	t.Cleanup(func() { cluster.Kubectl("", "delete", "namespace", name, "--wait=false") })
	waitForDefaultServiceAccount(t, name)
}

// waitForDefaultServiceAccount waits until kube-controller-manager's
// ServiceAccount controller has made ns's "default": until then the
// ServiceAccount admission plugin refuses pods there.
func waitForDefaultServiceAccount(t *testing.T, ns string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := cluster.Kubectl("", "get", "serviceaccount", "default", "-n", ns); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("namespace %s got no default ServiceAccount", ns)
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	out, _ := kubectl(t, "", "get", "pod", "-n", ns, name, "-o", "json")
	return decodePod(t, out)
}

func decodePod(t *testing.T, js string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := json.Unmarshal([]byte(js), pod); err != nil {
		t.Fatalf("decode pod: %v", err)
	}
	return pod
}

// waitForAuditLabel waits until the webhook's namespace cache has the
// namespace's audit label: a server-side dry run of a pod comes back with
// warnings. (The webhook reads labels from an informer, never from the API
// while answering, so a label is seen a moment after it is written.)
func waitForAuditLabel(t *testing.T, ns string) {
	t.Helper()
	waitForPodDryRun(t, ns, "in audit mode", func(err error, stderr string) bool {
		return err == nil && strings.Contains(stderr, "Warning:")
	})
}

// waitForEnforce waits until the webhook's namespace cache sees ns in
// enforce mode: a server-side dry run of an unmirrored pod is admitted
// (rewritten) without audit warnings.
func waitForEnforce(t *testing.T, ns string) {
	t.Helper()
	waitForPodDryRun(t, ns, "enforced", func(err error, stderr string) bool { return err == nil && stderr == "" })
}

// waitForPodDryRun dry-runs an unmirrored pod in ns until ok holds (15 s).
func waitForPodDryRun(t *testing.T, ns, what string, ok func(err error, stderr string) bool) {
	t.Helper()
	pod := podManifest(ns, "probe", "nginx:1.27")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, errOut, err := cluster.Kubectl(pod, "apply", "--dry-run=server", "-f", "-")
		if ok(err, errOut) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the webhook never saw namespace %s %s", ns, what)
}

func podManifest(ns, name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  containers:
    - name: %s
      image: %s
`, name, ns, name, image)
}
