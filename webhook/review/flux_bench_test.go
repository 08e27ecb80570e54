package review

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// Size of the generated repository of the --flux benchmarks: 40 Flux
// Kustomizations of 50 objects each.
const (
	benchKustomizations = 40
	benchObjectsEach    = 50
)

// benchRepo writes a Flux repository: clusters/bench applies 40
// Kustomizations, each building apps/appN (a kustomization.yaml over 50
// objects: Deployments, Services, ConfigMaps) with postBuild variables from
// a ConfigMap of the repository and inline ones, and a targetNamespace.
func benchRepo(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("clusters/bench/vars.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  CLUSTER: bench\n  REGION: eu-west-1\n")
	var ks strings.Builder
	for i := range benchKustomizations {
		fmt.Fprintf(&ks, `---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app%d
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/app%d
  prune: true
  serviceAccountName: kustomize-controller
  targetNamespace: team-%d
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      TEAM: team-%d
    substituteFrom:
      - kind: ConfigMap
        name: vars
`, i, i, i, i)
		var files []string
		for j := range benchObjectsEach {
			name := fmt.Sprintf("obj%02d.yaml", j)
			files = append(files, name)
			switch j % 3 {
			case 0:
				write(fmt.Sprintf("apps/app%d/%s", i, name), fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%d
  labels: {team: "${TEAM}"}
spec:
  selector:
    matchLabels: {app: web-%d}
  template:
    metadata:
      labels: {app: web-%d}
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.%d
          env:
            - {name: CLUSTER, value: "${CLUSTER}"}
            - {name: REGION, value: "${REGION}"}
`, j, j, j, j))
			case 1:
				write(fmt.Sprintf("apps/app%d/%s", i, name), fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: web-%d\nspec:\n  selector: {app: web-%d}\n  ports:\n    - port: 80\n", j, j))
			default:
				write(fmt.Sprintf("apps/app%d/%s", i, name), fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-%d\ndata:\n  cluster: ${CLUSTER}\n  team: ${TEAM}\n", j))
			}
		}
		write(fmt.Sprintf("apps/app%d/kustomization.yaml", i), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - "+strings.Join(files, "\n  - ")+"\n")
	}
	write("clusters/bench/apps.yaml", ks.String())
	return root
}

// reviewAll reviews docs as the review command does: the repository as its
// own context, then each object.
func reviewAll(b *testing.B, cfg *config.Config, docs []Document) {
	logf.SetLogger(logr.Discard()) // as the review command does
	r := NewReviewer(cfg, webhook.Mode(""), nil)
	r.Learn(docs)
	for _, d := range docs {
		if _, err := r.Review(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReviewFlux is review --flux on the generated repository: copy,
// 41 Flux builds with substitution, then the review of 2,041 objects.
// BenchmarkKustomizeThenReview is the baseline the issue names: kubectl
// kustomize (krusty, as BuildKustomizeDir runs it) of the same 40 folders
// plus a plain review of the output. Their ratio is in BENCHMARKS.md.
func BenchmarkReviewFlux(b *testing.B) {
	root := benchRepo(b)
	cfg := config.Default()
	b.ResetTimer()
	for b.Loop() {
		build, err := FollowFlux(context.Background(), FluxOptions{Dir: filepath.Join(root, "clusters", "bench"), RepoRoot: root})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(build.Docs); n != benchKustomizations*(benchObjectsEach+1)+1 {
			b.Fatalf("%d objects", n)
		}
		reviewAll(b, cfg, build.Docs)
	}
}

func BenchmarkKustomizeThenReview(b *testing.B) {
	root := benchRepo(b)
	cfg := config.Default()
	b.ResetTimer()
	for b.Loop() {
		var docs []Document
		for i := range benchKustomizations {
			d, err := BuildKustomizeDir(filepath.Join(root, "apps", fmt.Sprintf("app%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			docs = append(docs, d...)
		}
		if len(docs) != benchKustomizations*benchObjectsEach {
			b.Fatalf("%d objects", len(docs))
		}
		reviewAll(b, cfg, docs)
	}
}
