package policies

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

// benchImageConfig is manifests/webhook/config.yaml's imageRewrite, the
// config the benchmark corpus was recorded for.
func benchImageConfig() ImageConfig {
	return ImageConfig{
		Registry: corpus.Mirror,
		Prefixes: map[string]string{"docker.io": "docker-hub", "ghcr.io": "ghcr.io", "public.ecr.aws": "public.ecr.aws",
			"quay.io": "quay.io", "registry.k8s.io": "registry.k8s.io"},
		Aliases:            map[string]string{"mirror.gcr.io": "docker.io", "k8s.gcr.io": "registry.k8s.io"},
		UnlistedRegistries: UnlistedDeny,
		ExcludeNamespaces:  []string{"kube-system"},
	}
}

// benchObject decodes the object of a recorded request of the benchmark
// corpus (test/bench/corpus) into obj.
func benchObject(b *testing.B, name string, obj any) Request {
	b.Helper()
	c := corpus.Get(name)
	if err := json.Unmarshal(c.Object(), obj); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	req := c.Request()
	return Request{Operation: string(req.Operation), SubResource: req.SubResource, Namespace: req.Namespace, Name: req.Name}
}

// freshPods hands out deep copies of pod, made in batches with the timer
// stopped: a mutator changes its pod, and the copy is not what is measured.
type freshPods struct {
	pod  *corev1.Pod
	pool []*corev1.Pod
}

func (f *freshPods) next(b *testing.B) *corev1.Pod {
	if len(f.pool) == 0 {
		b.StopTimer()
		for range 512 {
			f.pool = append(f.pool, f.pod.DeepCopy())
		}
		b.StartTimer()
	}
	p := f.pool[len(f.pool)-1]
	f.pool = f.pool[:len(f.pool)-1]
	return p
}

// BenchmarkImageRewrite rewrites the images of the corpus's chart pods of
// about 3, 9 and 19 KB (1, 4 and 8 images), as created.
func BenchmarkImageRewrite(b *testing.B) {
	p := NewImageRewrite(benchImageConfig())
	for _, c := range []struct {
		size   string
		images int
	}{{"3k", 1}, {"9k", 4}, {"19k", 8}} {
		b.Run("pod="+c.size, func(b *testing.B) {
			pod := &corev1.Pod{}
			req := benchObject(b, "pod-"+c.size+"-rewrite", pod)
			pods := &freshPods{pod: pod}
			b.ReportAllocs()
			for b.Loop() {
				if got := p.Mutate(req, pods.next(b)); len(got) != c.images {
					b.Fatalf("%d rewrites, want %d: %q", len(got), c.images, got)
				}
			}
		})
	}
}
