package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flux-infra/platform-webhook/test/bench/measure"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// reporters runs `platform-webhook reporter` (the one built at before, when
// set, then this tree's) until its first run has written the OpenReports,
// and prints the time from start, its resident memory and heap then.
// Each starts from a cluster without reports, so each writes them all.
func reporters(c *harness.Cluster, before string) error {
	bins := [][2]string{{"this tree", c.Binary}}
	if before != "" {
		path := filepath.Join(c.Dir, "platform-webhook-before")
		if err := measure.BuildAt(harness.RepoRoot(), before, path); err != nil {
			return err
		}
		bins = [][2]string{{"before (" + before + ")", path}, {"after (this tree)", c.Binary}}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "platform-webhook"}} // the Lease's
	if err := c.Client.Create(context.Background(), ns); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("| reporter | first run written | RSS then | peak RSS | heap in use |")
	fmt.Println("|---|---|---|---|---|")
	for _, b := range bins {
		for _, kind := range []string{"reports.openreports.io", "clusterreports.openreports.io"} {
			if _, stderr, err := c.Kubectl("", "delete", kind, "--all", "--all-namespaces"); err != nil {
				return fmt.Errorf("delete %s: %v: %s", kind, err, stderr)
			}
		}
		health, err := measure.FreeAddr()
		if err != nil {
			return err
		}
		metrics, err := measure.FreeAddr()
		if err != nil {
			return err
		}
		p, err := measure.Start(filepath.Join(c.Dir, "reporter.log"), b[1], "reporter", "--kubeconfig", c.Kubeconfig,
			"--config", filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml"),
			"--namespace", "platform-webhook", "--health-addr", health, "--metrics-addr", metrics)
		if err != nil {
			return err
		}
		took, err := p.Until("reported", 5*time.Minute, p.Logged(`"reported"`))
		if err != nil {
			p.Stop()
			return fmt.Errorf("reporter %s: %w", b[0], err)
		}
		heap, err := measure.HeapInUse("http://"+metrics+"/metrics", 6, 500*time.Millisecond)
		if err != nil {
			p.Stop()
			return err
		}
		rss, peak, err := p.Memory()
		p.Stop()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "| %s | %s | %s | %s | %s |\n", b[0], took.Round(100*time.Millisecond), measure.MiB(rss), measure.MiB(peak), measure.MiB(heap))
	}
	return nil
}
