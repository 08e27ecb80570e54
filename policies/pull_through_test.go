package policies

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The two rule sets real mirrors use: prefixes named after the upstream host
// (the seed's), and the names the ECR console suggests.
func ptcHostNamedConfig() ImageConfig {
	return ptcConfig(map[string]string{
		"docker.io": "docker-hub", "ghcr.io": "ghcr.io", "public.ecr.aws": "public.ecr.aws",
		"quay.io": "quay.io", "registry.k8s.io": "registry.k8s.io",
	})
}

func ptcConsoleConfig() ImageConfig {
	return ptcConfig(map[string]string{
		"docker.io": "docker-hub", "ghcr.io": "github", "public.ecr.aws": "ecr-public",
		"quay.io": "quay", "registry.k8s.io": "kubernetes",
	})
}

func ptcConfig(prefixes map[string]string) ImageConfig {
	return ImageConfig{
		Registry:           imageTestRegistry,
		Prefixes:           prefixes,
		Aliases:            map[string]string{"mirror.gcr.io": "docker.io", "k8s.gcr.io": "registry.k8s.io"},
		Pushed:             []string{"apps"},
		UnlistedRegistries: UnlistedDeny,
		ExcludeNamespaces:  []string{"kube-system"},
		ExcludeRegistries:  []string{imageTestExcludedRegistry},
	}
}

// PTCImage is one image of the pull-through cache tables: what a pod created
// with it is admitted with, or why it is denied, under each rule set.
type ptcImage struct {
	image string
	// host and console: the admitted image, or "" when denied.
	host, console string
	// hostDenial and consoleDenial: the denial's detail (after "spec.containers[0].image: ").
	hostDenial, consoleDenial string
	// warning: image-registry's warning, the same under both sets.
	warning string
}

const (
	ptcR        = imageTestRegistry
	ptcDigest   = "sha256:cd3b0c3b932239041cbd36cff2af4dfa7016b5abd5f5d783fc12e6171c3ff0ea"
	ptcHostList = `"docker.io", "ghcr.io", "k8s.gcr.io", "mirror.gcr.io", "public.ecr.aws", "quay.io", "registry.k8s.io"`
	ptcAdvice   = `push the image under "` + ptcR + `/apps/", or ask the platform team for a rule or an excludeRegistries entry; rules exist for ` + ptcHostList
)

// ptcImages are real images of each kind the issue names. The pullability
// test (test/pullthrough) resolves every admitted one against an ECR stand-in.
var ptcImages = []ptcImage{
	{image: "quay.io/prometheus/node-exporter:v1.8.2",
		host: ptcR + "/quay.io/prometheus/node-exporter:v1.8.2", console: ptcR + "/quay/prometheus/node-exporter:v1.8.2"},
	{image: "public.ecr.aws/eks/aws-load-balancer-controller:v2.8.2",
		host: ptcR + "/public.ecr.aws/eks/aws-load-balancer-controller:v2.8.2", console: ptcR + "/ecr-public/eks/aws-load-balancer-controller:v2.8.2"},
	{image: "registry.k8s.io/external-dns/external-dns:v0.15.0",
		host: ptcR + "/registry.k8s.io/external-dns/external-dns:v0.15.0", console: ptcR + "/kubernetes/external-dns/external-dns:v0.15.0"},
	{image: "ghcr.io/stefanprodan/podinfo:6.7.1",
		host: ptcR + "/ghcr.io/stefanprodan/podinfo:6.7.1", console: ptcR + "/github/stefanprodan/podinfo:6.7.1"},
	{image: "nginx:1.27",
		host: ptcR + "/docker-hub/library/nginx:1.27", console: ptcR + "/docker-hub/library/nginx:1.27"},
	{image: "bitnami/redis:7.2",
		host: ptcR + "/docker-hub/bitnami/redis:7.2", console: ptcR + "/docker-hub/bitnami/redis:7.2"},
	{image: "mirror.gcr.io/library/busybox:1.36",
		host: ptcR + "/docker-hub/library/busybox:1.36", console: ptcR + "/docker-hub/library/busybox:1.36"},
	// mirror.gcr.io names official images without "library/"; Docker Hub's rule needs it.
	{image: "mirror.gcr.io/busybox:1.36",
		host: ptcR + "/docker-hub/library/busybox:1.36", console: ptcR + "/docker-hub/library/busybox:1.36"},
	{image: "k8s.gcr.io/pause:3.9",
		host: ptcR + "/registry.k8s.io/pause:3.9", console: ptcR + "/kubernetes/pause:3.9"},
	{image: "quay.io/jetstack/cert-manager-controller:v1.21.2@" + ptcDigest,
		host:    ptcR + "/quay.io/jetstack/cert-manager-controller:v1.21.2@" + ptcDigest,
		console: ptcR + "/quay/jetstack/cert-manager-controller:v1.21.2@" + ptcDigest,
		// The same under both sets but for the tag to pull: checked per set below.
		warning: "digest+tag"},
	{image: "registry.k8s.io/pause@" + ptcDigest,
		host: ptcR + "/registry.k8s.io/pause@" + ptcDigest, console: ptcR + "/kubernetes/pause@" + ptcDigest,
		warning: `spec.containers[0].image: pinned by digest (sha256:cd3b0c3b9322): a first pull by digest through the pull-through cache can miss; pull it once by a tag that points at it to warm the cache`},
	// Another ECR account, excluded: pulled from as it is.
	{image: imageTestExcludedRegistry + "/amazon-k8s-cni:v1.18.3",
		host: imageTestExcludedRegistry + "/amazon-k8s-cni:v1.18.3", console: imageTestExcludedRegistry + "/amazon-k8s-cni:v1.18.3"},
	// Pushed by CI under a pushed prefix.
	{image: ptcR + "/apps/shop/api:2.14.3", host: ptcR + "/apps/shop/api:2.14.3", console: ptcR + "/apps/shop/api:2.14.3"},
	// Upstreams without a rule.
	{image: "gcr.io/distroless/static:nonroot",
		hostDenial:    `container "app" uses "gcr.io/distroless/static:nonroot": no pull-through cache rule for "gcr.io" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "gcr.io/distroless/static:nonroot": no pull-through cache rule for "gcr.io" (` + ptcAdvice + `)`},
	{image: "mcr.microsoft.com/dotnet/aspnet:8.0",
		hostDenial:    `container "app" uses "mcr.microsoft.com/dotnet/aspnet:8.0": no pull-through cache rule for "mcr.microsoft.com" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "mcr.microsoft.com/dotnet/aspnet:8.0": no pull-through cache rule for "mcr.microsoft.com" (` + ptcAdvice + `)`},
	{image: "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
		hostDenial:    `container "app" uses "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04": no pull-through cache rule for "nvcr.io" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04": no pull-through cache rule for "nvcr.io" (` + ptcAdvice + `)`},
	{image: "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/app:1",
		hostDenial:    `container "app" uses "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/app:1": no pull-through cache rule for "210987654321.dkr.ecr.eu-west-1.amazonaws.com" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/app:1": no pull-through cache rule for "210987654321.dkr.ecr.eu-west-1.amazonaws.com" (` + ptcAdvice + `)`},
	{image: "localhost:5000/app:1",
		hostDenial:    `container "app" uses "localhost:5000/app:1": no pull-through cache rule for "localhost:5000" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "localhost:5000/app:1": no pull-through cache rule for "localhost:5000" (` + ptcAdvice + `)`},
	{image: "registry.example.com:8443/team/proxy:1",
		hostDenial:    `container "app" uses "registry.example.com:8443/team/proxy:1": no pull-through cache rule for "registry.example.com:8443" (` + ptcAdvice + `)`,
		consoleDenial: `container "app" uses "registry.example.com:8443/team/proxy:1": no pull-through cache rule for "registry.example.com:8443" (` + ptcAdvice + `)`},
	// Already in the mirror, under the host's name: right for one set only.
	{image: ptcR + "/quay.io/prometheus/node-exporter:v1.8.2",
		host:          ptcR + "/quay.io/prometheus/node-exporter:v1.8.2",
		consoleDenial: `container "app" uses "` + ptcR + `/quay.io/prometheus/node-exporter:v1.8.2" which is not under a pull-through cache rule of the mirror (use "` + ptcR + `/quay/prometheus/node-exporter:v1.8.2": the rule for "quay.io" has the prefix "quay")`},
	{image: ptcR + "/docker.io/nginx:1.27",
		hostDenial:    `container "app" uses "` + ptcR + `/docker.io/nginx:1.27" which is not under a pull-through cache rule of the mirror (use "` + ptcR + `/docker-hub/library/nginx:1.27": the rule for "docker.io" has the prefix "docker-hub")`,
		consoleDenial: `container "app" uses "` + ptcR + `/docker.io/nginx:1.27" which is not under a pull-through cache rule of the mirror (use "` + ptcR + `/docker-hub/library/nginx:1.27": the rule for "docker.io" has the prefix "docker-hub")`},
	{image: ptcR + "/gcr.io/distroless/static:nonroot",
		hostDenial:    `container "app" uses "` + ptcR + `/gcr.io/distroless/static:nonroot" whose prefix "gcr.io" is neither a pull-through cache rule nor a pushed prefix of the mirror (rule prefixes: "docker-hub/", "ghcr.io/", "public.ecr.aws/", "quay.io/", "registry.k8s.io/"; pushed: "apps/")`,
		consoleDenial: `container "app" uses "` + ptcR + `/gcr.io/distroless/static:nonroot" whose prefix "gcr.io" is neither a pull-through cache rule nor a pushed prefix of the mirror (rule prefixes: "docker-hub/", "ecr-public/", "github/", "kubernetes/", "quay/"; pushed: "apps/")`},
}

func TestPullThroughRuleSets(t *testing.T) {
	for _, set := range []struct {
		name string
		cfg  ImageConfig
	}{{"host-named", ptcHostNamedConfig()}, {"console", ptcConsoleConfig()}} {
		rewrite, registry := NewImageRewrite(set.cfg), NewImageRegistry(set.cfg)
		for _, tc := range ptcImages {
			want, denial := tc.host, tc.hostDenial
			if set.name == "console" {
				want, denial = tc.console, tc.consoleDenial
			}
			t.Run(set.name+"/"+tc.image, func(t *testing.T) {
				req := Request{Operation: "CREATE", Namespace: "tenant-a"}
				pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: tc.image}}}}
				rewrite.Mutate(req, pod)
				var got []string
				for _, v := range registry.Validate(req, pod) {
					got = append(got, v.String())
				}
				if denial != "" {
					if wantV := []string{"spec.containers[0].image: " + denial}; !reflect.DeepEqual(got, wantV) {
						t.Errorf("violations:\n got %q\nwant %q", got, wantV)
					}
					return
				}
				if len(got) > 0 {
					t.Errorf("denied: %q; want admitted as %q", got, want)
				}
				if image := pod.Spec.Containers[0].Image; image != want {
					t.Errorf("image %q, want %q", image, want)
				}
				warning := tc.warning
				if warning == "digest+tag" {
					warning = `spec.containers[0].image: pinned by digest (sha256:cd3b0c3b9322): a first pull by digest through the pull-through cache can miss; pull "` +
						want[:len(want)-len("@"+ptcDigest)] + `" once to warm the cache`
				}
				var wantWarnings []string
				if warning != "" {
					wantWarnings = []string{warning}
				}
				if w := registry.Warn(req, pod); !reflect.DeepEqual(w, wantWarnings) {
					t.Errorf("warnings:\n got %q\nwant %q", w, wantWarnings)
				}
			})
		}
	}
}

// image-registry tells a lost image-rewrite call (its webhook fails open)
// from a tenant's image: only an image image-rewrite would have rewritten,
// on a created pod it did not record, while it is enforced.
func TestImageRegistryRewriteFailedOpen(t *testing.T) {
	const hint = "; image-rewrite did not run on this pod (its webhook call failed, which lets the pod through unchanged): creating it again will pass"
	const nginx = `spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror (allowed: images under "` + ptcR + `/", "` + imageTestExcludedRegistry + `/")`
	enforced := []string{ImageRewrite}
	registry := NewImageRegistry(ptcConsoleConfig())
	pod := func(annotated bool, image string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
		if annotated {
			p.Annotations = map[string]string{OriginalImagesAnnotation: `{"sidecar":"busybox:1.36"}`}
		}
		return p
	}
	for _, tc := range []struct {
		name string
		req  Request
		pod  *corev1.Pod
		want string
	}{
		{"lost call", Request{Operation: "CREATE", EnforcedMutators: enforced}, pod(false, "nginx:1.27"), nginx + hint},
		{"review's create", Request{EnforcedMutators: enforced}, pod(false, "nginx:1.27"), nginx + hint},
		{"rewrite ran (annotation), image added after it", Request{Operation: "CREATE", EnforcedMutators: enforced}, pod(true, "nginx:1.27"), nginx},
		{"rewrite not enforced", Request{Operation: "CREATE"}, pod(false, "nginx:1.27"), nginx},
		{"update", Request{Operation: "UPDATE", EnforcedMutators: enforced}, pod(false, "nginx:1.27"), nginx},
		{"no rule: its own message", Request{Operation: "CREATE", EnforcedMutators: enforced}, pod(false, "gcr.io/distroless/static:nonroot"),
			`spec.containers[0].image: container "app" uses "gcr.io/distroless/static:nonroot": no pull-through cache rule for "gcr.io" (` + ptcAdvice + `)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range registry.Validate(tc.req, tc.pod) {
				got = append(got, v.String())
			}
			if want := []string{tc.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("violations:\n got %q\nwant %q", got, want)
			}
		})
	}
}
