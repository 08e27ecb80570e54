// End-to-end tests: a real etcd, kube-apiserver and kube-controller-manager,
// the real CRDs, the platform-webhook binary serving on loopback, the webhook
// configurations of manifests/webhook, Istio's own sidecar injector with the
// istiod chart's webhook configurations, and the pinned kubectl. What kubectl prints is compared
// word for word: it is what users read.
//
// Run with `make test-e2e` (or `make test`): it builds the control plane once
// into a cache and sets the environment. `go test ./...` alone skips them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

var cluster *harness.Cluster

// mirror is the registry of manifests/webhook/config.yaml, the config the
// tests run on (with its docker.io -> docker-hub prefix).
const mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// istioHub is istiod's global.hub in the seed
// (manifests/infrastructure/istio/istiod/helmrelease.yaml), on this mirror;
// istioProxy is the proxy image Istio's injector adds.
const (
	istioHub   = mirror + "/docker-hub/istio"
	istioProxy = istioHub + "/proxyv2:" + harness.IstioTag
)

func TestMain(m *testing.M) {
	if os.Getenv("PLATFORM_WEBHOOK_E2E") != "1" {
		fmt.Println("end-to-end tests skipped: run `make test-e2e` (PLATFORM_WEBHOOK_E2E=1 with the control plane built)")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	c, err := harness.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer c.Stop()
	cluster = c
	root := harness.RepoRoot()
	if err := c.StartWebhook(filepath.Join(root, "manifests", "webhook", "config.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := c.InstallWebhooks(context.Background(), filepath.Join(root, "manifests", "webhook", "webhooks.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: install webhooks:", err)
		return 1
	}
	// Istio's own injector, as the seed installs istiod (its proxy images
	// from the mirror: global.hub).
	if err := c.StartIstio(context.Background(), istioHub); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: Istio's injector:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- webhook log ---\n%s\n--- Istio injector log (tail) ---\n%s\n", c.Log(), tail(c.IstioLog(), 4000))
	}
	return code
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
