package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// jobPodManifest is a pod as the Job controller creates it: the job-name
// label and, when uid is set, a controller owner reference to the Job.
func jobPodManifest(ns, name, uid, container string) string {
	owner := ""
	if uid != "" {
		owner = fmt.Sprintf(`  ownerReferences:
    - apiVersion: batch/v1
      kind: Job
      name: migrate
      uid: %s
      controller: true
      blockOwnerDeletion: true
`, uid)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
    batch.kubernetes.io/job-name: migrate
%sspec:
  restartPolicy: Never
  containers:
    - name: migrate
%s`, name, ns, owner, container)
}

// waitForMeshLabel waits until the webhook's namespace cache has the
// namespace's Istio label: a server-side dry run of a Job pod comes back
// wrapped.
func waitForMeshLabel(t *testing.T, ns string) {
	t.Helper()
	pod := jobPodManifest(ns, "probe", "", "      image: "+mirror+"/docker-hub/library/busybox:1.36\n      command: [\"true\"]\n")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, _, err := cluster.Kubectl(pod, "apply", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.containers[0].command[0]}")
		if err == nil && out == "/job-proxy/platform-webhook" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the webhook never saw namespace %s as injected", ns)
}

// TestJobProxy: a pod owned by a Job in a namespace Istio injects is
// admitted wrapped, with the init container that copies the wrapper (its
// image mirrored by image-rewrite, so image-registry admits the pod); a Job
// pod whose container has no command is denied with what to add.
func TestJobProxy(t *testing.T) {
	namespace(t, "e2e-mesh", map[string]string{"istio.io/rev": "stable"})
	waitForMeshLabel(t, "e2e-mesh")
	kubectl(t, `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: e2e-mesh
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: ghcr.io/example/migrate:2.4.1
          command: ["/app/migrate"]
`, "apply", "-f", "-")
	uid, _ := kubectl(t, "", "get", "job", "-n", "e2e-mesh", "migrate", "-o", "jsonpath={.metadata.uid}")

	out, errOut := kubectl(t, jobPodManifest("e2e-mesh", "migrate-x7k2p", uid,
		"      image: ghcr.io/example/migrate:2.4.1\n      command: [\"/app/migrate\"]\n      args: [\"up\"]\n"), "apply", "-f", "-")
	if out != "pod/migrate-x7k2p created\n" || errOut != "" {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	pod := getPod(t, "e2e-mesh", "migrate-x7k2p")
	c := pod.Spec.Containers[0]
	if got, want := strings.Join(c.Command, " "), "/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- /app/migrate"; got != want {
		t.Errorf("command %q\nwant    %q", got, want)
	}
	if !slices.Equal(c.Args, []string{"up"}) || c.Image != mirror+"/ghcr.io/example/migrate:2.4.1" {
		t.Errorf("args %q, image %q", c.Args, c.Image)
	}
	// The ServiceAccount admission plugin's token mount comes first, then job-proxy's.
	if n := len(c.VolumeMounts); n != 2 || c.VolumeMounts[1].Name != "job-proxy-bin" || c.VolumeMounts[1].MountPath != "/job-proxy" || !c.VolumeMounts[1].ReadOnly ||
		!strings.HasPrefix(c.VolumeMounts[0].Name, "kube-api-access-") {
		t.Errorf("volume mounts %+v, want the token's and job-proxy-bin", c.VolumeMounts)
	}
	if len(pod.Spec.InitContainers) != 1 {
		t.Fatalf("init containers %+v, want job-proxy-install", pod.Spec.InitContainers)
	}
	ic := pod.Spec.InitContainers[0]
	if ic.Name != "job-proxy-install" || ic.Image != mirror+"/ghcr.io/flux-infra/platform-webhook:v0.1.0" ||
		strings.Join(ic.Command, " ") != "/platform-webhook wrap --install /job-proxy/platform-webhook" {
		t.Errorf("init container %s %s %q", ic.Name, ic.Image, ic.Command)
	}
	if sc := ic.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("init container security context %+v", ic.SecurityContext)
	}
	if got, want := pod.Annotations["platform-webhook.flux-infra.io/original-images"],
		`{"job-proxy-install":"ghcr.io/flux-infra/platform-webhook:v0.1.0","migrate":"ghcr.io/example/migrate:2.4.1"}`; got != want {
		t.Errorf("original images %s, want %s", got, want)
	}

	t.Run("args without command: denied", func(t *testing.T) {
		_, errOut, err := cluster.Kubectl(jobPodManifest("e2e-mesh", "migrate-q8x7v", uid,
			"      image: ghcr.io/example/migrate:2.4.1\n      args: [\"up\"]\n"), "apply", "-f", "-")
		want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "job-proxy.flux-infra.io" denied the request: ` +
			`[job-proxy] spec.containers[0].command: container "migrate" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)` + "\n"
		if err == nil || errOut != want {
			t.Fatalf("kubectl apply: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
		}
	})
}

// TestJobProxyAudit: in an audit namespace the Warning lines say what
// job-proxy would change, and the pod is stored as written.
func TestJobProxyAudit(t *testing.T) {
	namespace(t, "e2e-mesh-audit", map[string]string{"istio-injection": "enabled", "flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, "e2e-mesh-audit")
	// An image already in the mirror: the only warnings are job-proxy's.
	image := mirror + "/ghcr.io/example/migrate:2.4.1"
	out, errOut := kubectl(t, jobPodManifest("e2e-mesh-audit", "migrate-a1b2c", "",
		"      image: "+image+"\n      command: [\"/app/migrate\", \"up\"]\n"), "apply", "-f", "-")
	wantErr := `Warning: [job-proxy] would add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"
Warning: [job-proxy] would wrap container "migrate" to wait for istio-proxy and stop it on exit
`
	if out != "pod/migrate-a1b2c created\n" || errOut != wantErr {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantErr)
	}
	pod := getPod(t, "e2e-mesh-audit", "migrate-a1b2c")
	if got := strings.Join(pod.Spec.Containers[0].Command, " "); got != "/app/migrate up" || len(pod.Spec.InitContainers) != 0 {
		t.Errorf("audit mode changed the pod: command %q, init containers %d", got, len(pod.Spec.InitContainers))
	}
}
