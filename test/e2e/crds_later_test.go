package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// gatewayAPICRDs are the Gateway API's own CRDs, from its Go module (the
// harness's CRD folder, test/tools/controlplane.sh).
func gatewayAPICRDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(os.Getenv("PLATFORM_WEBHOOK_CRDS"), "gateway-api_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gateway API CRDs in $PLATFORM_WEBHOOK_CRDS: %v", err)
	}
	return files
}

func crdArgs(verb string, files []string) []string {
	args := []string{verb}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	return args
}

// TestGatewayAPICRDsInstalledLater: the webhook starts on a control plane
// without the Gateway API CRDs; they are applied, and within seconds, without
// a restart, gateway-hosts enforces routes (a tenant's own hostname admitted,
// another tenant's denied by name, ownership on a shared listener); the CRDs
// deleted and applied again: the same. A reporter started without them
// reports a Gateway API route once they arrive.
func TestGatewayAPICRDsInstalledLater(t *testing.T) {
	crds := gatewayAPICRDs(t)
	waitNamespaceGone(t, "istio-ingress")
	if _, errOut, err := cluster.Kubectl("", append(crdArgs("delete", crds), "--wait=true")...); err != nil {
		t.Fatalf("delete the Gateway API CRDs: %v\n%s", err, errOut)
	}
	// Whatever happens, the other tests get the CRDs back.
	t.Cleanup(func() { cluster.Kubectl("", crdArgs("apply", crds)...) })
	// The running webhook watched them since its start: it stops watching,
	// and stays ready.
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(cluster.Log(), `"stopped watching a deleted kind","crd":"httproutes.gateway.networking.k8s.io"`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the webhook does not log that it stopped watching HTTPRoutes:\n%s", tail(cluster.Log(), 2000))
		}
	}
	if code, body, err := harness.Readyz(cluster.HealthAddr()); err != nil || code != 200 {
		t.Errorf("not ready after the Gateway API CRDs were deleted: %d %v\n%s", code, err, body)
	}
	cluster.StopWebhook()
	if err := cluster.StartWebhook(cluster.ConfigPath()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cluster.Log(), `"kinds":["gateways.networking.istio.io","virtualservices.networking.istio.io"]`) {
		t.Errorf("the webhook does not log the kinds it watches at start (Istio's only):\n%s", tail(cluster.Log(), 2000))
	}

	const lease = "e2e-late-lease"
	namespace(t, "istio-ingress", nil)
	namespace(t, "e2e-gwapi-a", nil)
	namespace(t, "e2e-late-b", nil)
	namespace(t, "e2e-late-audit", map[string]string{"flux-infra.io/admission-mode": "audit"})
	namespace(t, lease, nil)
	startReporter(t, "reporter-late", reporterUser(t, lease), lease)

	for round := 1; round <= 2; round++ {
		if _, errOut, err := cluster.Kubectl("", crdArgs("apply", crds)...); err != nil {
			t.Fatalf("round %d: apply the Gateway API CRDs: %v\n%s", round, err, errOut)
		}
		applied := time.Now()
		// The apiserver serves the new kinds a moment after the CRDs are
		// established; the Gateway goes in then.
		for {
			_, errOut, err := cluster.Kubectl(sprintf(apiGatewayManifest, "istio-ingress"), "apply", "-f", "-")
			if err == nil {
				break
			}
			if time.Since(applied) > 30*time.Second {
				t.Fatalf("round %d: the Gateway is not accepted 30s after the CRDs: %s", round, errOut)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// A tenant's route on its own listener: admitted as soon as the
		// webhook has seen the Gateway (until then: denied, never wrongly).
		waitForWebhookGateways(t, apiRoute("e2e-gwapi-a", "shop", "shop.a.example.com"), "Gateway istio-ingress/public-api",
			func(err error, _ string) bool { return err == nil })
		kubectl(t, apiRoute("e2e-gwapi-a", "shop", "shop.a.example.com"), "apply", "-f", "-")
		t.Logf("round %d: a route admitted %s after the CRDs were applied", round, time.Since(applied).Round(10*time.Millisecond))
		if took := time.Since(applied); took > 30*time.Second {
			t.Errorf("round %d: %s before routes were enforced, want seconds", round, took)
		}

		want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
			`[gateway-hosts] spec.hostnames[0]: hostname "www.a.example.com" is not usable by namespace "e2e-late-b" on gateway "istio-ingress/public-api" (allowed for e2e-late-b: "*.apps.example.com")` + "\n"
		// Until every Gateway API kind's informer has synced, a denial says
		// to retry ("the webhook is still loading ..."): wait for the real one.
		waitForWebhookGateways(t, apiRoute("e2e-late-b", "steal", "www.a.example.com"), "every Gateway API kind",
			func(err error, stderr string) bool {
				if err != nil && stderr != want && !strings.Contains(stderr, "the webhook is still loading") {
					t.Logf("round %d: while loading: %s", round, stderr)
				}
				return err != nil && stderr == want
			})
		_, errOut, err := cluster.Kubectl(apiRoute("e2e-late-b", "steal", "www.a.example.com"), "apply", "-f", "-")
		if err == nil || errOut != want {
			t.Errorf("round %d: another tenant's hostname: err %v\nstderr: %s\nwant:   %s", round, err, errOut, want)
		}

		kubectl(t, apiRoute("e2e-gwapi-a", "web", "web.apps.example.com"), "apply", "-f", "-")
		want = `Error from server (Forbidden): error when creating "STDIN": admission webhook "gateway-hosts.flux-infra.io" denied the request: ` +
			`[gateway-hosts] spec.hostnames[0]: hostname "web.apps.example.com" on gateway "istio-ingress/public-api" belongs to another namespace (HTTPRoute e2e-gwapi-a/web uses it)` + "\n"
		waitForWebhookGateways(t, apiRoute("e2e-late-b", "web", "web.apps.example.com"), "HTTPRoute e2e-gwapi-a/web",
			func(err error, stderr string) bool { return err != nil && stderr == want })

		if round == 1 {
			// In audit, the same theft is admitted, and the reporter, started
			// before the CRDs existed, reports it.
			kubectl(t, apiRoute("e2e-late-audit", "steal", "www.a.example.com"), "apply", "-f", "-")
			waitForReport(t, "e2e-late-audit", func(r reportView) bool {
				for _, res := range r.Results {
					for _, o := range res.Resources {
						if res.Policy == "gateway-hosts" && o.Kind == "HTTPRoute" && o.Name == "steal" {
							return true
						}
					}
				}
				return false
			})
			if _, errOut, err := cluster.Kubectl("", append(crdArgs("delete", crds), "--wait=true")...); err != nil {
				t.Fatalf("delete the Gateway API CRDs: %v\n%s", err, errOut)
			}
		}
	}
}
