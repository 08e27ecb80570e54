package e2e

import (
	"strings"
	"testing"
	"time"
)

// noRuleDenial is image-registry's denial of a gcr.io image under the shipped
// config (manifests/webhook/config.yaml): ECR has no pull-through cache rule
// for gcr.io, so the mirror could not serve it.
const noRuleDenial = `[image-registry] spec.containers[0].image: container "app" uses "gcr.io/distroless/static:nonroot": no pull-through cache rule for "gcr.io" ` +
	`(ask the platform team for a rule or an excludeRegistries entry; rules exist for "docker.io", "ghcr.io", "k8s.gcr.io", "mirror.gcr.io", "public.ecr.aws", "quay.io", "registry.k8s.io")`

func TestNoPullThroughRuleDenied(t *testing.T) {
	const ns = "e2e-ptc"
	namespace(t, ns, nil)
	_, errOut, err := cluster.Kubectl(podManifest(ns, "app", "gcr.io/distroless/static:nonroot"), "apply", "-f", "-")
	want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "image-registry.flux-infra.io" denied the request: ` + noRuleDenial + "\n"
	if err == nil || errOut != want {
		t.Fatalf("kubectl apply: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}

	// A Deployment is stored (the server never judges workloads); its
	// ReplicaSet cannot create the pod and says why in a FailedCreate event.
	kubectl(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: distroless, namespace: `+ns+`}
spec:
  replicas: 1
  selector: {matchLabels: {app: distroless}}
  template:
    metadata: {labels: {app: distroless}}
    spec:
      containers:
        - name: app
          image: gcr.io/distroless/static:nonroot
`, "apply", "-f", "-")
	wantEvent := `Error creating: admission webhook "image-registry.flux-infra.io" denied the request: ` + noRuleDenial
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _ = kubectl(t, "", "get", "events", "-n", ns, "--field-selector", "reason=FailedCreate,involvedObject.kind=ReplicaSet",
			"-o", "jsonpath={.items[0].message}")
		if got != "" {
			break
		}
	}
	if got != wantEvent {
		t.Errorf("ReplicaSet FailedCreate event:\n got %q\nwant %q", got, wantEvent)
	}
}

func TestNoPullThroughRuleAudit(t *testing.T) {
	const ns = "e2e-ptc-audit"
	namespace(t, ns, map[string]string{"flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, ns)
	out, errOut := kubectl(t, podManifest(ns, "app", "gcr.io/distroless/static:nonroot"), "apply", "-f", "-")
	// The same text as the denial, as a warning; past 256 characters the
	// apiserver would drop it, so the webhook cuts its end: the list of rules.
	warning := "[image-registry] would deny: " + strings.TrimPrefix(noRuleDenial, "[image-registry] ")
	if len(warning) > 256 {
		warning = warning[:253] + "..."
	}
	if want := "Warning: " + warning + "\n"; out != "pod/app created\n" || errOut != want {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, want)
	}
}
