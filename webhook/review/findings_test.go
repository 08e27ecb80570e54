package review

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// report reads Findings: every warning whole, where Warnings keeps to the
// admission limits (256 characters each, 4 KiB together).
func TestFindingsAreNotCut(t *testing.T) {
	cfg := config.Default()
	set := cfg.Build(nil)
	r := &Reviewer{Set: set, Namespaces: map[string]map[string]string{"legacy": {webhook.ModeLabel: "audit"}}}
	var containers []any
	for i := range 40 {
		// No pull-through cache rule: a long "would deny" each.
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%02d", i), "image": fmt.Sprintf("gcr.io/some-team/some-rather-long-image-name-%02d:1.0.0", i)})
	}
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "big", "namespace": "legacy"}, "spec": map[string]any{"containers": containers}}}
	e, err := r.Review(context.Background(), Document{Source: "pod.yaml:1", Object: pod})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Findings) != 40 {
		t.Fatalf("%d findings, want 40 (one per container)", len(e.Findings))
	}
	total := 0
	for i, f := range e.Findings {
		total += len(f)
		if want := fmt.Sprintf(`spec.containers[%d].image: container "c%02d" uses`, i, i); !strings.Contains(f, want) || !strings.HasSuffix(f, `"registry.k8s.io")`) {
			t.Errorf("finding %d cut or wrong: %s", i, f)
		}
	}
	if total <= 4096 || len(e.Warnings) >= len(e.Findings) {
		t.Errorf("the case does not test the cap: %d bytes of findings, %d warnings", total, len(e.Warnings))
	}
}
