// Command demo (`make demo`) starts a local control plane and the webhook,
// applies examples/ with kubectl, and prints what a user sees. It stops
// everything it started, also on Ctrl-C.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
	"github.com/flux-infra/platform-webhook/webhook/review"
)

// namespacesOf returns the Namespaces among the manifests under dir, and
// flux-system (which Flux's bootstrap creates), as one YAML stream.
func namespacesOf(dir string) (string, error) {
	docs, _, err := review.Read([]string{dir}, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n")
	for _, d := range docs {
		if d.Object.GetAPIVersion() == "v1" && d.Object.GetKind() == "Namespace" {
			y, err := yaml.Marshal(d.Object.Object)
			if err != nil {
				return "", err
			}
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	return b.String(), nil
}

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
	// Istio's own injector, as the seed installs istiod: revision 1-30 and
	// its tags, proxy images from the mirror of config.yaml.
	fmt.Println("Starting Istio's sidecar injector (istiod " + harness.IstioTag + "'s injection code, revision " + harness.IstioRevision + ")...")
	if err := c.StartIstio(context.Background(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/istio"); err != nil {
		return err
	}
	examples := filepath.Join(root, "examples")
	step := func(args ...string) {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		out, errOut, _ := c.Kubectl("", args...)
		fmt.Print(errOut, out)
	}
	// Namespaces first, as Flux applies them: the webhook reads their labels
	// from its informer cache, a moment after they are written.
	namespaces, err := namespacesOf(examples)
	if err != nil {
		return err
	}
	fmt.Printf("\n$ kubectl apply -f - # the %d Namespaces of examples/, and flux-system\n", strings.Count(namespaces, "kind: Namespace"))
	out, errOut, _ := c.Kubectl(namespaces, "apply", "-f", "-")
	fmt.Print(errOut, out)
	time.Sleep(time.Second)
	step("apply", "-R", "-f", examples)
	// kube-controller-manager runs in the harness: Deployments, Jobs and
	// CronJobs' Jobs create their pods through the webhooks, a moment later.
	time.Sleep(3 * time.Second)
	step("get", "pods", "-A", "-o", `custom-columns=NAMESPACE:.metadata.namespace,POD:.metadata.name,OWNER:.metadata.ownerReferences[0].kind,IMAGES:.spec.containers[*].image`)
	jobPods := `custom-columns=NAMESPACE:.metadata.namespace,JOB POD:.metadata.name,INIT CONTAINERS:.spec.initContainers[*].name,CONTAINERS:.spec.containers[*].name,COMMAND:.spec.containers[0].command`
	step("get", "pods", "-A", "-l", "batch.kubernetes.io/job-name", "-o", jobPods)
	fmt.Println("\n(tenant-c is in the mesh: Istio injected istio-proxy as a native sidecar, an init container the kubelet starts first")
	fmt.Println(" and stops last, because every Node's kubelet is 1.33+ (istiod's ENABLE_NATIVE_SIDECARS=auto). job-proxy left it alone.)")
	fmt.Println("\n# A Node with kubelet v1.32.4 joins: Istio's auto mode now injects istio-proxy as a regular container, so job-proxy wraps.")
	if err := c.AddNode(context.Background(), "node-old", "v1.32.4"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the webhook's and Istio's Node informers
	step("create", "job", "-n", "tenant-c", "db-migrate-2", "--image=ghcr.io/example/db-migrate:1.4.0", "--", "/migrate", "up")
	time.Sleep(2 * time.Second)
	step("get", "pods", "-n", "tenant-c", "-l", "batch.kubernetes.io/job-name=db-migrate-2", "-o", jobPods)
	step("get", "virtualservices,gateways,helmreleases,kustomizations", "-A")
	// What enforce would break among what audit let in (tenant-b is audit).
	fmt.Printf("\n$ platform-webhook report -n tenant-b\n")
	rep := exec.Command(c.Binary, "report", "--kubeconfig", c.Kubeconfig, "--config", filepath.Join(root, "manifests", "webhook", "config.yaml"), "-n", "tenant-b")
	rep.Stdout, rep.Stderr = os.Stdout, os.Stdout
	_ = rep.Run() // exit 1: findings

	fmt.Println("\n(Deployments, Jobs and CronJobs are stored as written: the server patches the pods their controllers create, never")
	fmt.Println(" workloads, so Flux sees no drift. Nothing schedules the pods here, so they stay Pending; `platform-webhook review examples/` previews them too.)")
	return nil
}
