package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// helperMirrored is the wrapper's image, the webhook's own, once
// image-rewrite has put it on the mirror.
const helperMirrored = mirror + "/ghcr.io/flux-infra/platform-webhook:v0.1.0"

// wrappedTemplate sets in a pod template (the map at path) what job-proxy
// and image-rewrite do to a Job pod in the mesh whose only container has
// command: wrapped, image mirrored (to image), originals recorded; written
// out by hand.
func wrappedTemplate(obj map[string]any, path []any, restart, image string, command []any, original string) {
	at := func(rest ...any) []any { return append(append([]any{}, path...), rest...) }
	set(obj, append([]any{"/job-proxy/platform-webhook", "wrap", "--restart-policy=" + restart, "--timeout=5m0s", "--"}, command...),
		at("spec", "containers", 0, "command")...)
	set(obj, image, at("spec", "containers", 0, "image")...)
	set(obj, []any{map[string]any{"name": "job-proxy-bin", "mountPath": "/job-proxy", "readOnly": true}},
		at("spec", "containers", 0, "volumeMounts")...)
	set(obj, []any{map[string]any{"name": "job-proxy-bin", "emptyDir": map[string]any{}}}, at("spec", "volumes")...)
	set(obj, []any{map[string]any{
		"name":    "job-proxy-install",
		"image":   helperMirrored,
		"command": []any{"/platform-webhook", "wrap", "--install", "/job-proxy/platform-webhook"},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
			"limits":   map[string]any{"cpu": "50m", "memory": "64Mi"},
		},
		"volumeMounts": []any{map[string]any{"name": "job-proxy-bin", "mountPath": "/job-proxy"}},
		"securityContext": map[string]any{
			"runAsNonRoot": true, "runAsUser": float64(65532), "runAsGroup": float64(65532),
			"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
			"capabilities":   map[string]any{"drop": []any{"ALL"}},
			"seccompProfile": map[string]any{"type": "RuntimeDefault"},
		},
	}}, at("spec", "initContainers")...)
	set(obj, original, at("metadata", "annotations", originalImages)...)
}

// kubeletNodes is --context with Nodes of these kubelet versions.
func kubeletNodes(versions ...string) string {
	var docs string
	for i, v := range versions {
		docs += fmt.Sprintf("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-%d\nstatus:\n  nodeInfo:\n    kubeletVersion: %s\n", i, v)
	}
	return docs
}

// TestReviewJobProxy: on a cluster whose kubelets (Nodes in --context)
// predate native sidecars, review shows a Job's and a CronJob's pod template
// wrapped (the Job in a namespace of --context labelled for injection),
// denies a Job whose container has no command, and warns in audit mode.
func TestReviewJobProxy(t *testing.T) {
	dir := t.TempDir()
	ctxFile := writeFile(t, dir, "context.yaml", kubeletNodes("v1.28.15", "v1.37.2")+`---
apiVersion: v1
kind: Namespace
metadata:
  name: mesh
  labels:
    istio.io/rev: 1-24
---
apiVersion: v1
kind: Namespace
metadata:
  name: mesh-audit
  labels:
    istio-injection: enabled
    flux-infra.io/admission-mode: audit
`)
	const job = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: mesh
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: job
          image: ghcr.io/example/migrate:2.4.1
          command: ["/app/migrate", "up"]
`
	const cronJob = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: mesh
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: registry.k8s.io/kubectl:v1.37.2
              command: ["kubectl"]
              args: ["get", "pods"]
`
	const argsOnly = `apiVersion: batch/v1
kind: Job
metadata:
  name: args-only
  namespace: mesh
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: job
          image: ghcr.io/example/migrate:2.4.1
          args: ["up"]
`
	const audited = `apiVersion: batch/v1
kind: Job
metadata:
  name: audited
  namespace: mesh-audit
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: job
          image: ghcr.io/example/migrate:2.4.1
          command: ["/app/migrate"]
`
	files := writeFile(t, dir, "jobs.yaml", job+"---\n"+cronJob+"---\n"+argsOnly+"---\n"+audited)

	// Kubelets 1.33+ (Istio's native-sidecar auto mode): the proxy will be
	// a native sidecar, so nothing is wrapped and the args-only Job is fine.
	nativeCtx := writeFile(t, dir, "native.yaml", kubeletNodes("v1.37.2", "v1.33.1")+"---\n"+strings.SplitN(readFile(t, ctxFile), "---\n", 4)[3])
	code, stdout, stderr := runReview(t, "", "-o", "json", "--context", nativeCtx, files)
	if code != 0 {
		t.Errorf("native: exit %d, want 0; stderr: %s", code, stderr)
	}
	for _, e := range decodeEntries(t, stdout) {
		if got := strs(e["warnings"]); e["allowed"] != true || strings.Contains(strings.Join(got, "\n"), "job-proxy") {
			t.Errorf("native: %v allowed %v, warnings %q", e["name"], e["allowed"], got)
		}
	}

	code, stdout, stderr = runReview(t, "", "-o", "json", "--context", ctxFile, files)
	if code != 1 {
		t.Errorf("exit %d, want 1 (args-only is denied); stderr: %s", code, stderr)
	}
	entries := decodeEntries(t, stdout)
	inputs := parseYAML(t, job, cronJob, argsOnly, audited)
	checkContract(t, entries, inputs)
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 4", len(entries))
	}

	wantJob := inputs[0]
	wrappedTemplate(wantJob, []any{"spec", "template"}, "Never", mirror+"/ghcr.io/example/migrate:2.4.1",
		[]any{"/app/migrate", "up"}, `{"job":"ghcr.io/example/migrate:2.4.1","job-proxy-install":"ghcr.io/flux-infra/platform-webhook:v0.1.0"}`)
	if !reflect.DeepEqual(entries[0]["object"], wantJob) {
		t.Errorf("Job object =\n%s\nwant\n%s", toJSON(t, entries[0]["object"]), toJSON(t, wantJob))
	}

	wantCron := inputs[1]
	wrappedTemplate(wantCron, []any{"spec", "jobTemplate", "spec", "template"}, "OnFailure", mirror+"/registry.k8s.io/kubectl:v1.37.2",
		[]any{"kubectl"}, `{"job":"registry.k8s.io/kubectl:v1.37.2","job-proxy-install":"ghcr.io/flux-infra/platform-webhook:v0.1.0"}`)
	if !reflect.DeepEqual(entries[1]["object"], wantCron) {
		t.Errorf("CronJob object =\n%s\nwant\n%s", toJSON(t, entries[1]["object"]), toJSON(t, wantCron))
	}
	if got := strs(field(t, entries[1]["object"], "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "args")); !reflect.DeepEqual(got, []string{"get", "pods"}) {
		t.Errorf("CronJob args = %q, want unchanged", got)
	}

	if entries[2]["allowed"] != false || entries[2]["message"] != `[job-proxy] spec.containers[0].command: container "job" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)` {
		t.Errorf("args-only Job: allowed %v, message %q", entries[2]["allowed"], entries[2]["message"])
	}

	wantWarnings := []string{
		`[job-proxy] would add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"`,
		`[job-proxy] would wrap container "job" to wait for istio-proxy and stop it on exit`,
		`[image-rewrite] would rewrite "ghcr.io/example/migrate:2.4.1" to "` + mirror + `/ghcr.io/example/migrate:2.4.1"`,
		`[image-registry] would deny: spec.containers[0].image: container "job" uses "ghcr.io/example/migrate:2.4.1" which is not in the mirror (allowed: images under "` + mirror + `/")`,
	}
	if got := strs(entries[3]["warnings"]); entries[3]["allowed"] != true || !reflect.DeepEqual(got, wantWarnings) {
		t.Errorf("audited Job: allowed %v, warnings\n%q\nwant\n%q", entries[3]["allowed"], got, wantWarnings)
	}
	if !reflect.DeepEqual(entries[3]["object"], inputs[3]) {
		t.Errorf("audit mode changed the Job: %s", toJSON(t, entries[3]["object"]))
	}
}
