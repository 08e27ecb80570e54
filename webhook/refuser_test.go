package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// refusingMutator labels pods, but refuses those named "bad".
type refusingMutator struct{ labelMutator }

func (m *refusingMutator) Refuse(_ policies.Request, pod *corev1.Pod) []policies.Violation {
	if pod.Name != "bad" {
		return nil
	}
	return []policies.Violation{policies.Violationf("metadata.name", "name %q cannot be labelled (allowed: any other name)", pod.Name)}
}

// TestChainRefuser: a mutator that refuses an object denies it in enforce
// mode, warns "would deny" in audit mode, and never changes it.
func TestChainRefuser(t *testing.T) {
	const refusal = `metadata.name: name "bad" cannot be labelled (allowed: any other name)`
	for _, tc := range []struct {
		mode     webhook.Mode
		denials  []string
		warnings []string
	}{
		{webhook.Enforce, []string{"[label] " + refusal}, nil},
		{webhook.Audit, nil, []string{"[label] would deny: " + refusal}},
		{webhook.Off, nil, nil},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			m := &refusingMutator{}
			c := &webhook.Chain[*corev1.Pod]{
				Mutators: []policies.Mutator[*corev1.Pod]{m},
				Modes:    func(string) webhook.Mode { return tc.mode },
			}
			pod := badPod()
			d := c.Mutate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod)
			if !reflect.DeepEqual(d.Denials, tc.denials) || !reflect.DeepEqual(d.Warnings, tc.warnings) {
				t.Errorf("denials %q, warnings %q; want %q, %q", d.Denials, d.Warnings, tc.denials, tc.warnings)
			}
			if d.Mutated || pod.Labels != nil || m.calls != 0 {
				t.Errorf("a refused pod was mutated: %+v, labels %v, Mutate called %d times", d, pod.Labels, m.calls)
			}
			// A pod it does not refuse is mutated as usual.
			pod.Name = "good"
			if d := c.Mutate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod); tc.mode == webhook.Enforce && (!d.Mutated || !d.Allowed()) {
				t.Errorf("good pod: %+v", d)
			}
		})
	}
}

// meshLookup: "mesh" is injected by Istio, "mesh-audit" too, in audit mode.
func meshLookup(_ context.Context, name string) (map[string]string, error) {
	return map[string]map[string]string{
		"mesh":       {"istio.io/rev": "1-24"},
		"mesh-audit": {"istio.io/rev": "1-24", webhook.ModeLabel: "audit"},
	}[name], nil
}

func jobProxyEndpoint(t *testing.T) admission.Handler {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	set := config.Default().Build(nil)
	set.UseIstio(oldKubelets())
	return webhook.Endpoints(set.Pods, func() *corev1.Pod { return &corev1.Pod{} }, admission.NewDecoder(scheme), meshLookup)["/job-proxy"]
}

// jobPodJSON is a pod of the Job "migrate" whose container "migrate" has
// the given command and args (JSON arrays, or "" for none).
func jobPodJSON(namespace, command, args string) string {
	container := `"name": "migrate", "image": "ghcr.io/example/migrate:2.4.1"`
	if command != "" {
		container += `, "command": ` + command
	}
	if args != "" {
		container += `, "args": ` + args
	}
	return fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod",
  "metadata": {"generateName": "migrate-", "namespace": %q, "labels": {"batch.kubernetes.io/job-name": "migrate"}},
  "spec": {"restartPolicy": "Never", "containers": [{%s}]}}`, namespace, container)
}

// TestJobProxyEndpoint: /job-proxy from raw AdmissionReviews.
func TestJobProxyEndpoint(t *testing.T) {
	h := map[string]admission.Handler{"/job-proxy": jobProxyEndpoint(t)}

	t.Run("wrapped", func(t *testing.T) {
		raw := podReview("mesh", "CREATE", jobPodJSON("mesh", `["/app/migrate"]`, `["up"]`))
		resp := handle(t, h, "/job-proxy", raw)
		if !resp.Allowed || len(resp.Warnings) > 0 {
			t.Fatalf("response %+v", resp)
		}
		checkOps(t, resp,
			`{"op": "replace", "path": "/spec/containers/0/command/0", "value": "/job-proxy/platform-webhook"}`,
			`{"op": "add", "path": "/spec/containers/0/command/1", "value": "wrap"}`,
			`{"op": "add", "path": "/spec/containers/0/command/2", "value": "--restart-policy=Never"}`,
			`{"op": "add", "path": "/spec/containers/0/command/3", "value": "--timeout=5m0s"}`,
			`{"op": "add", "path": "/spec/containers/0/command/4", "value": "--"}`,
			`{"op": "add", "path": "/spec/containers/0/command/5", "value": "/app/migrate"}`,
			`{"op": "add", "path": "/spec/containers/0/volumeMounts", "value": [{"name": "job-proxy-bin", "mountPath": "/job-proxy", "readOnly": true}]}`,
			`{"op": "add", "path": "/spec/volumes", "value": [{"name": "job-proxy-bin", "emptyDir": {}}]}`,
			`{"op": "add", "path": "/spec/initContainers", "value": [{
				"name": "job-proxy-install", "image": "ghcr.io/flux-infra/platform-webhook:v0.1.0",
				"command": ["/platform-webhook", "wrap", "--install", "/job-proxy/platform-webhook"],
				"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}},
				"volumeMounts": [{"name": "job-proxy-bin", "mountPath": "/job-proxy"}],
				"securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "readOnlyRootFilesystem": true,
					"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}`,
		)
		// Reinvocation: the patched pod comes back unchanged.
		again := podReview("mesh", "CREATE", string(applyPatch(t, resp, decodeReview(t, raw).Object.Raw)))
		checkAllowedAsIs(t, handle(t, h, "/job-proxy", again))
	})

	t.Run("args without command: denied", func(t *testing.T) {
		resp := handle(t, h, "/job-proxy", podReview("mesh", "CREATE", jobPodJSON("mesh", "", `["up"]`)))
		want := `[job-proxy] spec.containers[0].command: container "migrate" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)`
		if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden || resp.Result.Message != want {
			t.Errorf("response %+v\nwant 403 %s", resp.Result, want)
		}
		if len(resp.Patches) > 0 {
			t.Errorf("a denied pod got a patch: %+v", resp.Patches)
		}
	})

	t.Run("audit: warnings only", func(t *testing.T) {
		resp := handle(t, h, "/job-proxy", podReview("mesh-audit", "CREATE", jobPodJSON("mesh-audit", `["/app/migrate"]`, "")))
		want := []string{
			`[job-proxy] would add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"`,
			`[job-proxy] would wrap container "migrate" to wait for istio-proxy and stop it on exit`,
		}
		if !resp.Allowed || len(resp.Patches) > 0 {
			t.Errorf("audit response %+v, patches %+v", resp.Result, resp.Patches)
		}
		checkWarnings(t, resp, want, map[string]string{"job-proxy": `would add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"; ` +
			`would wrap container "migrate" to wait for istio-proxy and stop it on exit`})
	})

	t.Run("audit: args without command warns", func(t *testing.T) {
		resp := handle(t, h, "/job-proxy", podReview("mesh-audit", "CREATE", jobPodJSON("mesh-audit", "", "")))
		want := []string{`[job-proxy] would deny: spec.containers[0].command: container "migrate" has no command, so it cannot be wrapped to wait for istio-proxy (set command and args to the image's ENTRYPOINT and CMD)`}
		if !resp.Allowed || len(resp.Patches) > 0 || !reflect.DeepEqual(resp.Warnings, want) {
			t.Errorf("audit response allowed %v, patches %+v, warnings %q; want allowed, none, %q", resp.Allowed, resp.Patches, resp.Warnings, want)
		}
		for _, w := range resp.Warnings {
			if len(w) > 256 {
				t.Errorf("warning of %d characters, over 256: %s", len(w), w)
			}
		}
	})

	t.Run("not in the mesh", func(t *testing.T) {
		checkAllowedAsIs(t, handle(t, h, "/job-proxy", podReview("tenant-a", "CREATE", jobPodJSON("tenant-a", "", `["up"]`))))
	})
}
