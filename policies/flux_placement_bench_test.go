package policies

import (
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
)

// BenchmarkFluxPlacement checks the corpus's HelmReleases: tenant-a's own
// release (allowed) and one copied from an infra release (two violations).
func BenchmarkFluxPlacement(b *testing.B) {
	var cfg FluxPlacementConfig
	cfg.Default()
	p := NewFluxPlacement(cfg).HelmReleases()
	for _, c := range []struct {
		name       string
		violations int
	}{{"helmrelease-allowed", 0}, {"helmrelease-denied", 2}} {
		b.Run(c.name, func(b *testing.B) {
			hr := &helmv2.HelmRelease{}
			req := benchObject(b, c.name, hr)
			b.ReportAllocs()
			for b.Loop() {
				if got := p.Validate(req, hr); len(got) != c.violations {
					b.Fatalf("%d violations, want %d: %v", len(got), c.violations, got)
				}
			}
		})
	}
}
