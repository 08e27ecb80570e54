package policies

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkImageRegistry checks the corpus's chart pods of about 3, 9 and
// 19 KB as image-rewrite left them: every image in the mirror.
func BenchmarkImageRegistry(b *testing.B) {
	p := NewImageRegistry(benchImageConfig())
	for _, size := range []string{"3k", "9k", "19k"} {
		b.Run("pod="+size, func(b *testing.B) {
			pod := &corev1.Pod{}
			req := benchObject(b, "pod-"+size+"-registry", pod)
			b.ReportAllocs()
			for b.Loop() {
				if got := p.Validate(req, pod); len(got) != 0 {
					b.Fatalf("violations: %v", got)
				}
			}
		})
	}
}
