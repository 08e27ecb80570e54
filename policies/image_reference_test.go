package policies

import (
	"testing"
)

// imageTestRegistry is the mirror every image test uses.
const imageTestRegistry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// imageTestExcludedRegistry is EKS's own ECR account (VPC CNI, kube-proxy),
// pulled from as it is.
const imageTestExcludedRegistry = "602401143452.dkr.ecr.us-west-2.amazonaws.com"

// imageTestConfig is the mirror without prefixes, with unlistedRegistries
// hostPrefix (the behaviour before rules were configured): upstream hosts are
// the repository prefixes.
func imageTestConfig() ImageConfig {
	return ImageConfig{
		Registry:           imageTestRegistry,
		UnlistedRegistries: UnlistedHostPrefix,
		ExcludeNamespaces:  []string{"kube-system"},
		ExcludeRegistries:  []string{imageTestExcludedRegistry},
	}
}

// imageTestHubConfig is the mirror with an ECR pull-through cache rule
// "docker-hub" for Docker Hub.
func imageTestHubConfig() ImageConfig {
	cfg := imageTestConfig()
	cfg.Prefixes = map[string]string{"docker.io": "docker-hub"}
	return cfg
}

func TestMirrorImage(t *testing.T) {
	plain := imageTestConfig()
	hub := imageTestHubConfig()
	hubExcluded := imageTestHubConfig()
	hubExcluded.ExcludeRegistries = []string{"docker.io"}
	nestedPrefix := imageTestConfig()
	nestedPrefix.Prefixes = map[string]string{"quay.io": "mirror/quay"}
	dotlessRegistry := imageTestConfig()
	dotlessRegistry.Registry = "mirror"
	registryWithPath := imageTestConfig()
	registryWithPath.Registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror"

	tests := []struct {
		name    string
		cfg     ImageConfig
		image   string
		want    string // "" with wantErr
		changed bool
		wantErr bool
	}{
		// Docker Hub official images.
		{name: "official no tag", cfg: plain, image: "nginx",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/nginx:latest", changed: true},
		{name: "official no tag hub prefix", cfg: hub, image: "nginx",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:latest", changed: true},
		{name: "official tag hub prefix", cfg: hub, image: "nginx:1.27",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27", changed: true},
		{name: "official tag with upper case", cfg: plain, image: "nginx:Alpine",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/nginx:Alpine", changed: true},
		{name: "official alpine tag", cfg: plain, image: "redis:7.2-alpine",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/redis:7.2-alpine", changed: true},
		{name: "official digest", cfg: hub, image: "postgres@sha256:a2cc630abb4bd89d25e1547be009a1d01195205c5641bd78b7bb8b907eb9e88e",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/postgres@sha256:a2cc630abb4bd89d25e1547be009a1d01195205c5641bd78b7bb8b907eb9e88e", changed: true},
		{name: "official tag and digest", cfg: hub, image: "busybox:1.36@sha256:e8c8a3084de10146f2d33e17ac4741ea5523002a0366b6d637c1228956bfa991",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36@sha256:e8c8a3084de10146f2d33e17ac4741ea5523002a0366b6d637c1228956bfa991", changed: true},

		// Docker Hub user images.
		{name: "hub user image", cfg: plain, image: "bitnami/redis:7.2",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/bitnami/redis:7.2", changed: true},
		{name: "hub user image hub prefix", cfg: hub, image: "grafana/grafana:11.0.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/grafana/grafana:11.0.0", changed: true},
		{name: "hub explicit host", cfg: hub, image: "docker.io/istio/proxyv2:1.24.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/istio/proxyv2:1.24.0", changed: true},
		{name: "hub explicit library no tag", cfg: plain, image: "docker.io/library/alpine",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/alpine:latest", changed: true},

		// The legacy Docker Index host is Docker Hub.
		{name: "index.docker.io", cfg: plain, image: "index.docker.io/library/busybox:1.36",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/library/busybox:1.36", changed: true},
		{name: "index.docker.io hub prefix", cfg: hub, image: "index.docker.io/library/busybox:1.36",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36", changed: true},
		{name: "index.docker.io official short", cfg: hub, image: "index.docker.io/busybox",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:latest", changed: true},

		// quay.io
		{name: "quay cert-manager", cfg: hub, image: "quay.io/jetstack/cert-manager-controller:v1.21.2",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/jetstack/cert-manager-controller:v1.21.2", changed: true},
		{name: "quay node-exporter", cfg: plain, image: "quay.io/prometheus/node-exporter:v1.8.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/prometheus/node-exporter:v1.8.0", changed: true},
		{name: "quay kiali", cfg: plain, image: "quay.io/kiali/kiali:v2.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/kiali/kiali:v2.0", changed: true},
		{name: "quay tag and digest", cfg: plain, image: "quay.io/jetstack/cert-manager-webhook:v1.21.2@sha256:cd3b0c3b932239041cbd36cff2af4dfa7016b5abd5f5d783fc12e6171c3ff0ea",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/jetstack/cert-manager-webhook:v1.21.2@sha256:cd3b0c3b932239041cbd36cff2af4dfa7016b5abd5f5d783fc12e6171c3ff0ea", changed: true},
		{name: "quay nested prefix", cfg: nestedPrefix, image: "quay.io/kiali/kiali:v2.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/quay/kiali/kiali:v2.0", changed: true},
		{name: "upper-case host", cfg: plain, image: "Quay.io/kiali/kiali:v2.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/kiali/kiali:v2.0", changed: true},

		// ghcr.io
		{name: "ghcr helm-controller", cfg: hub, image: "ghcr.io/fluxcd/helm-controller:v1.1.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/fluxcd/helm-controller:v1.1.0", changed: true},
		{name: "ghcr digest", cfg: plain, image: "ghcr.io/fluxcd/source-controller@sha256:c5dd294656a3b844a01ab2964da54805ed9adc792d4efe36f4ca69e7008f2249",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/fluxcd/source-controller@sha256:c5dd294656a3b844a01ab2964da54805ed9adc792d4efe36f4ca69e7008f2249", changed: true},

		// registry.k8s.io, gcr.io, mcr, ECR Public
		{name: "k8s ingress-nginx tag and digest", cfg: hub, image: "registry.k8s.io/ingress-nginx/controller:v1.11.0@sha256:2ad18f14b91c25b0af8d3810abdb5c0d0f8db0e1157abc995a65ff6c0117ded1",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/registry.k8s.io/ingress-nginx/controller:v1.11.0@sha256:2ad18f14b91c25b0af8d3810abdb5c0d0f8db0e1157abc995a65ff6c0117ded1", changed: true},
		{name: "k8s external-dns", cfg: plain, image: "registry.k8s.io/external-dns/external-dns:v0.14.2",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/registry.k8s.io/external-dns/external-dns:v0.14.2", changed: true},
		{name: "k8s pause", cfg: plain, image: "registry.k8s.io/pause:3.10",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/registry.k8s.io/pause:3.10", changed: true},
		{name: "gcr distroless", cfg: hub, image: "gcr.io/distroless/static:nonroot",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/gcr.io/distroless/static:nonroot", changed: true},
		{name: "mcr aspnet", cfg: plain, image: "mcr.microsoft.com/dotnet/aspnet:8.0",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/mcr.microsoft.com/dotnet/aspnet:8.0", changed: true},
		{name: "ecr public", cfg: plain, image: "public.ecr.aws/eks/aws-load-balancer-controller:v2.8.1",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/public.ecr.aws/eks/aws-load-balancer-controller:v2.8.1", changed: true},
		{name: "another ecr account not excluded", cfg: plain, image: "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/app:2.3.1",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/app:2.3.1", changed: true},

		// Hosts with a port: ':' becomes '_' in the repository prefix.
		{name: "localhost port", cfg: hub, image: "localhost:5000/app",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/localhost_5000/app:latest", changed: true},
		{name: "host port", cfg: plain, image: "registry.example.com:8443/team/app:1",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/registry.example.com_8443/team/app:1", changed: true},
		{name: "localhost no port", cfg: plain, image: "localhost/app:dev",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/localhost/app:dev", changed: true},

		// Left alone, exactly as written.
		{name: "already mirrored", cfg: hub, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27"},
		{name: "already mirrored without tag", cfg: plain, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/kiali/kiali",
			want: "123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/kiali/kiali"},
		{name: "istio auto", cfg: hub, image: "auto",
			want: "auto"},
		{name: "excluded registry", cfg: hub, image: "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3",
			want: "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3"},
		{name: "excluded docker.io matches index.docker.io", cfg: hubExcluded, image: "index.docker.io/library/busybox:1.36",
			want: "index.docker.io/library/busybox:1.36"},
		{name: "excluded docker.io matches familiar name", cfg: hubExcluded, image: "busybox",
			want: "busybox"},

		// Not valid references.
		{name: "upper-case name", cfg: plain, image: "Nginx:1.27", wantErr: true},
		{name: "upper-case path", cfg: plain, image: "quay.io/Jetstack/cert-manager-controller:v1.21.2", wantErr: true},
		{name: "empty", cfg: plain, image: "", wantErr: true},
		{name: "double colon", cfg: plain, image: "Bad::Image", wantErr: true},
		{name: "leading space", cfg: plain, image: " nginx", wantErr: true},
		{name: "bare hex identifier", cfg: plain, image: "a2cc630abb4bd89d25e1547be009a1d01195205c5641bd78b7bb8b907eb9e88e", wantErr: true},
		{name: "short digest", cfg: plain, image: "nginx@sha256:abc", wantErr: true},
		// Cannot be mirrored.
		{name: "ipv6 host", cfg: plain, image: "[::1]:5000/app:1", wantErr: true},
		{name: "mirror read as a docker hub namespace", cfg: dotlessRegistry, image: "nginx", wantErr: true},
		// Its images would not be recognized as mirrored on the next pass.
		{name: "mirror with a path", cfg: registryWithPath, image: "nginx", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := MirrorImage(tt.image, tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("MirrorImage(%q) = %q, %v, nil; want an error", tt.image, got, changed)
				}
				if got != "" || changed {
					t.Errorf("MirrorImage(%q) with error returned %q, %v; want \"\", false", tt.image, got, changed)
				}
				return
			}
			if err != nil {
				t.Fatalf("MirrorImage(%q): unexpected error: %v", tt.image, err)
			}
			if got != tt.want || changed != tt.changed {
				t.Errorf("MirrorImage(%q)\n got %q, changed %v\nwant %q, changed %v", tt.image, got, changed, tt.want, tt.changed)
			}
			// A mirrored image is left alone by a second pass.
			again, changedAgain, err := MirrorImage(got, tt.cfg)
			if err != nil || changedAgain || again != got {
				t.Errorf("MirrorImage(%q) second pass = %q, %v, %v; want it unchanged", got, again, changedAgain, err)
			}
		})
	}
}
