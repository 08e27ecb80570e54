package manifests

import (
	"fmt"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The webhook's Deployment is built for availability (issue: no admission
// lost when a replica is rolled or killed): what the numbers must add up to.
func TestWebhookAvailability(t *testing.T) {
	objs, err := kustomizeBuild(filesys.MakeFsOnDisk(), filepath.Join(manifestsDir(), "webhook"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	pdb := false
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment" && o.GetName() == "platform-webhook":
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
		case o.GetKind() == "PodDisruptionBudget":
			pdb = true
		}
	}
	if !pdb {
		t.Error("no PodDisruptionBudget")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.PriorityClassName == "" {
		t.Error("no priority class")
	}
	keys := map[string]bool{}
	for _, c := range pod.TopologySpreadConstraints {
		keys[c.TopologyKey] = true
	}
	if !keys["topology.kubernetes.io/zone"] || !keys["kubernetes.io/hostname"] {
		t.Errorf("spread over %v, want zones and nodes", keys)
	}
	c := pod.Containers[0]

	// GOMEMLIMIT at about 90% of the memory limit.
	var memlimit string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			memlimit = e.Value
		}
	}
	var mib int64
	if _, err := fmt.Sscanf(memlimit, "%dMiB", &mib); err != nil {
		t.Fatalf("GOMEMLIMIT %q: want <n>MiB: %v", memlimit, err)
	}
	limit := c.Resources.Limits.Memory().Value()
	if ratio := float64(mib<<20) / float64(limit); ratio < 0.85 || ratio > 0.95 {
		t.Errorf("GOMEMLIMIT %s is %.0f%% of the memory limit %d, want about 90%%", memlimit, 100*ratio, limit)
	}

	// preStop + drain + shutdown fit the grace period with room to spare.
	drain := 10 // --shutdown-drain's default
	for _, a := range c.Args {
		if _, err := fmt.Sscanf(a, "--shutdown-drain=%ds", &drain); err == nil {
			break
		}
	}
	preStop := int(c.Lifecycle.PreStop.Sleep.Seconds)
	const shutdown = 10 // in-flight requests, bounded by the webhooks' timeoutSeconds
	if grace := int(*pod.TerminationGracePeriodSeconds); preStop+drain+shutdown+5 > grace {
		t.Errorf("preStop %ds + drain %ds + shutdown %ds do not fit terminationGracePeriodSeconds %d with 5s to spare", preStop, drain, shutdown, grace)
	}

	// Probes that do not kill a busy pod: liveness allows a minute.
	l := c.LivenessProbe
	if l == nil || l.PeriodSeconds*l.FailureThreshold < 60 || l.TimeoutSeconds < 5 {
		t.Errorf("livenessProbe %+v: want at least a minute of failures, each allowed 5s", l)
	}
}
