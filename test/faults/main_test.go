// Package faults is the fault test of issue "no admission lost when a webhook
// replica is rolled, rotated or killed": several `serve` replicas behind a
// Service stand-in, registered through the shipped webhook configurations,
// under steady pod creates through a real kube-apiserver, while replicas are
// rolled out, their certificate rotated and killed. `make test-e2e` runs a
// short round, `make soak` a long one (RELIABILITY.md).
package faults

import (
	"fmt"
	"os"
	"testing"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

var cluster *harness.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("PLATFORM_WEBHOOK_E2E") != "1" {
		fmt.Println("fault tests skipped: run `make test-e2e` or `make soak` (PLATFORM_WEBHOOK_E2E=1 with the control plane built)")
		os.Exit(0)
	}
	c, err := harness.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}
