package e2e

import (
	"strings"
	"testing"
)

// Updates of running objects, through the shipped webhook configurations:
// judged by what they change (README "Updates").

const registryAllowed = `(allowed: images under "` + mirror + `/")`

func webhookRequests(t *testing.T, path string) float64 {
	t.Helper()
	n, err := cluster.WebhookRequests(path)
	if err != nil {
		t.Fatalf("read the webhook's metrics: %v", err)
	}
	return n
}

func TestPodUpdatesInEnforce(t *testing.T) {
	const ns = "e2e-set-image"
	namespace(t, ns, nil)
	kubectl(t, podManifest(ns, "web", "nginx:1.27"), "apply", "-f", "-")

	t.Run("kubectl set image runs the mirror", func(t *testing.T) {
		out, errOut := kubectl(t, "", "set", "image", "-n", ns, "pod/web", "web=docker.io/library/redis:7.2")
		if out != "pod/web image updated\n" || errOut != "" {
			t.Fatalf("stdout %q stderr %q", out, errOut)
		}
		pod := getPod(t, ns, "web")
		if got, want := pod.Spec.Containers[0].Image, mirror+"/docker-hub/library/redis:7.2"; got != want {
			t.Errorf("image %q, want %q", got, want)
		}
		if got, want := pod.Annotations["platform-webhook.flux-infra.io/original-images"], `{"web":"docker.io/library/redis:7.2"}`; got != want {
			t.Errorf("original images %q, want %q", got, want)
		}
	})
	t.Run("a JSON patch to an invalid image reference is denied", func(t *testing.T) {
		got := kubectlFails(t, "", "patch", "pod", "web", "-n", ns, "--type=json",
			"-p", `[{"op":"replace","path":"/spec/containers/0/image","value":"quay.io/evil/Miner:1"}]`)
		want := `Error from server (Forbidden): admission webhook "image-registry.flux-infra.io" denied the request: ` +
			`[image-registry] spec.containers[0].image: container "web" uses "quay.io/evil/Miner:1" which is not a valid image reference (repository names are lower case)` + "\n"
		if got != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("a JSON patch to an unmirrored image runs the mirror", func(t *testing.T) {
		out, errOut := kubectl(t, "", "patch", "pod", "web", "-n", ns, "--type=json",
			"-p", `[{"op":"replace","path":"/spec/containers/0/image","value":"quay.io/evil/miner:1"}]`)
		if out != "pod/web patched\n" || errOut != "" {
			t.Fatalf("stdout %q stderr %q", out, errOut)
		}
		if got, want := getPod(t, ns, "web").Spec.Containers[0].Image, mirror+"/quay.io/evil/miner:1"; got != want {
			t.Errorf("image %q, want %q", got, want)
		}
	})
}

// A pod admitted in audit mode, with unmirrored images and a first debug
// container, stays manageable once its namespace is enforced.
func TestPodUpdatesAfterAudit(t *testing.T) {
	const ns = "e2e-pod-legacy"
	namespace(t, ns, map[string]string{"flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, ns)
	kubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: legacy
  namespace: `+ns+`
spec:
  containers:
    - name: app
      image: nginx:1.27
    - name: cache
      image: redis:7.2
`, "apply", "-f", "-")
	// In audit mode too, the containers the update leaves as they were are
	// existing violations: enforce would not deny them either.
	_, errOut := kubectl(t, "", "debug", "-n", ns, "legacy", "--image=busybox:1.36", "--container=first")
	wantErr := `Warning: [image-rewrite] would rewrite "busybox:1.36" to "` + mirror + `/docker-hub/library/busybox:1.36"
Warning: [image-registry] existing violation: spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror ` + registryAllowed + `
Warning: [image-registry] existing violation: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + registryAllowed + `
Warning: [image-registry] would deny: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + registryAllowed + `
`
	if errOut != wantErr {
		t.Fatalf("first kubectl debug (audit) stderr:\n%s\nwant:\n%s", errOut, wantErr)
	}

	kubectl(t, "", "label", "namespace", ns, "flux-infra.io/admission-mode=enforce", "--overwrite")
	waitForEnforce(t, ns)

	t.Run("a pod update that changes no image never reaches the webhook", func(t *testing.T) {
		rewrite, registry := webhookRequests(t, "/image-rewrite"), webhookRequests(t, "/image-registry")
		if rewrite == 0 || registry == 0 {
			t.Fatalf("requests before: image-rewrite %v, image-registry %v; want some (the metric is read wrong)", rewrite, registry)
		}
		out, errOut := kubectl(t, "", "label", "pod", "legacy", "-n", ns, "team=shop")
		if out != "pod/legacy labeled\n" || errOut != "" {
			t.Errorf("kubectl label: stdout %q stderr %q", out, errOut)
		}
		out, errOut = kubectl(t, "", "annotate", "pod", "legacy", "-n", ns, "note=kept")
		if out != "pod/legacy annotated\n" || errOut != "" {
			t.Errorf("kubectl annotate: stdout %q stderr %q", out, errOut)
		}
		if after := webhookRequests(t, "/image-rewrite"); after != rewrite {
			t.Errorf("image-rewrite requests %v -> %v, want unchanged", rewrite, after)
		}
		if after := webhookRequests(t, "/image-registry"); after != registry {
			t.Errorf("image-registry requests %v -> %v, want unchanged", registry, after)
		}
	})
	t.Run("kubectl set image: the new image mirrored, the untouched one a warning", func(t *testing.T) {
		out, errOut := kubectl(t, "", "set", "image", "-n", ns, "pod/legacy", "app=nginx:1.28")
		wantErr := `Warning: [image-registry] existing violation: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + registryAllowed + `
Warning: [image-registry] existing violation: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + registryAllowed + `
`
		if out != "pod/legacy image updated\n" || errOut != wantErr {
			t.Fatalf("stdout %q\nstderr:\n%s\nwant:\n%s", out, errOut, wantErr)
		}
		pod := getPod(t, ns, "legacy")
		if got, want := pod.Spec.Containers[0].Image+" "+pod.Spec.Containers[1].Image, mirror+"/docker-hub/library/nginx:1.28 redis:7.2"; got != want {
			t.Errorf("images %q, want %q", got, want)
		}
	})
	t.Run("a second kubectl debug works: the new container mirrored, the first untouched", func(t *testing.T) {
		_, errOut := kubectl(t, "", "debug", "-n", ns, "legacy", "--image=busybox:1.37", "--container=second")
		wantErr := `Warning: [image-registry] existing violation: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + registryAllowed + `
Warning: [image-registry] existing violation: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + registryAllowed + `
`
		if errOut != wantErr {
			t.Errorf("stderr:\n%s\nwant:\n%s", errOut, wantErr)
		}
		var images []string
		for _, c := range getPod(t, ns, "legacy").Spec.EphemeralContainers {
			images = append(images, c.Name+"="+c.Image)
		}
		if got, want := strings.Join(images, " "), "first=busybox:1.36 second="+mirror+"/docker-hub/library/busybox:1.37"; got != want {
			t.Errorf("ephemeral containers %s\nwant %s", got, want)
		}
	})
}
