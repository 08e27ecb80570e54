// Command demo (`make demo`) starts a local control plane and the webhook,
// applies examples/ with kubectl, and prints what a user sees. It stops
// everything it started, also on Ctrl-C.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	root := harness.RepoRoot()
	fmt.Println("Starting etcd, kube-apiserver (with the Flux, Istio and cert-manager CRDs) and platform-webhook...")
	c, err := harness.Start()
	if err != nil {
		return err
	}
	defer c.Stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; c.Stop(); os.Exit(130) }()

	if err := c.StartWebhook(filepath.Join(root, "manifests", "webhook", "config.yaml")); err != nil {
		return err
	}
	if err := c.InstallWebhooks(context.Background(), filepath.Join(root, "manifests", "webhook", "webhooks.yaml")); err != nil {
		return err
	}
	examples := filepath.Join(root, "examples")
	step := func(args ...string) {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		out, errOut, _ := c.Kubectl("", args...)
		fmt.Print(errOut, out)
	}
	step("apply", "-f", filepath.Join(examples, "namespaces.yaml"))
	// The webhook reads namespace labels from its informer cache.
	time.Sleep(time.Second)
	step("apply", "-f", examples)
	step("get", "pods", "-A", "-o", `custom-columns=NAMESPACE:.metadata.namespace,POD:.metadata.name,IMAGES:.spec.containers[*].image`)
	fmt.Println("\n(Deployments and CronJobs are stored as written: the server patches pods, never workloads, so Flux sees no drift.")
	fmt.Println(" This control plane has no controller-manager, so they create no pods here; `platform-webhook review examples/` previews them.)")
	return nil
}
