// Command report times `platform-webhook report` on a big cluster: it starts
// the harness's real etcd and kube-apiserver (no webhook, so the pods are
// stored as written, unmirrored), creates -pods pods over -namespaces
// namespaces, half of them labelled audit, then runs the built binary's
// report -o json pinned to one CPU (taskset, when there are two) and prints
// its wall time, CPU time, peak RSS and findings as a Markdown line
// (BENCHMARKS.md). Then it runs the reporter until its first run has written
// the OpenReports and prints the time that took, its resident memory and
// heap; with -before REV, the reporter built at that revision too.
//
//	KUBEBUILDER_ASSETS=... PLATFORM_WEBHOOK_CRDS=... go run ./test/bench/report [-pods 10000] [-namespaces 100] [-before REV]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

func main() {
	pods := flag.Int("pods", 10000, "pods to create")
	namespaces := flag.Int("namespaces", 100, "namespaces to spread them over")
	before := flag.String("before", "", "git revision whose reporter runs before this tree's (empty: only this tree's)")
	flag.Parse()
	if err := run(*pods, *namespaces, *before); err != nil {
		fmt.Fprintln(os.Stderr, "bench report:", err)
		os.Exit(1)
	}
}

func run(pods, namespaces int, before string) error {
	c, err := harness.Start()
	if err != nil {
		return err
	}
	defer c.Stop()
	ctx := context.Background()
	start := time.Now()
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%03d", i)}}
		if i%2 == 0 {
			ns.Labels = map[string]string{"flux-infra.io/admission-mode": "audit"}
		}
		if err := c.Client.Create(ctx, ns); err != nil {
			return err
		}
	}
	// The ServiceAccount admission plugin needs each namespace's default
	// account, which kube-controller-manager makes.
	for i := range namespaces {
		for {
			var sa corev1.ServiceAccount
			if err := c.Client.Get(ctx, keyOf(fmt.Sprintf("bench-%03d", i), "default"), &sa); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				pod := &corev1.Pod{
					// Labels and annotations as a Deployment's pod with Istio's sidecar has them.
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: fmt.Sprintf("bench-%03d", i%namespaces),
						Labels: map[string]string{"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": fmt.Sprintf("app-%d", i%7),
							"pod-template-hash": "5d8f7c9b6d", "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": "app",
							"service.istio.io/canonical-revision": "1"},
						Annotations: map[string]string{"kubectl.kubernetes.io/default-container": "app", "prometheus.io/scrape": "true",
							"prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus", "istio.io/rev": "default",
							"sidecar.istio.io/status": istioStatus}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "app", Image: "ghcr.io/example/app:1." + strconv.Itoa(i%7)},
						{Name: "sidecar", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
					}},
				}
				if err := c.Client.Create(ctx, pod); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Fprintf(os.Stderr, "created %d pods in %d namespaces in %s\n", pods, namespaces, time.Since(start).Round(time.Second))

	args := []string{c.Binary, "report", "--kubeconfig", c.Kubeconfig, "-o", "json",
		"--config", filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml")}
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		args = append([]string{"taskset", "-c", "1"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		return fmt.Errorf("report: %v (want exit 1: findings)", err)
	}
	var findings []map[string]any
	if err := json.Unmarshal(out.Bytes(), &findings); err != nil {
		return err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("| %d pods, %d namespaces | %s | %s | %d MiB | %d findings |\n",
		pods, namespaces, wall.Round(100*time.Millisecond), cpu.Round(100*time.Millisecond), ru.Maxrss/1024, len(findings))
	return reporters(c, before)
}

// istioStatus is the annotation Istio's injector writes on every pod it injects.
const istioStatus = `{"initContainers":["istio-validation","istio-proxy"],"containers":null,"volumes":["workload-socket","credential-socket",` +
	`"workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert","istio-ca-crl"],` +
	`"imagePullSecrets":null,"revision":"default"}`

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
