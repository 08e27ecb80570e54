package policies

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImageRegistryName(t *testing.T) {
	if got := NewImageRegistry(imageTestConfig()).Name(); got != "image-registry" {
		t.Errorf("Name() = %q, want %q", got, "image-registry")
	}
}

func TestImageRegistryValidate(t *testing.T) {
	noExclusions := imageTestHubConfig()
	noExclusions.ExcludeRegistries = nil
	twoExclusions := imageTestHubConfig()
	// Unsorted and with a duplicate: the message lists them sorted, once.
	twoExclusions.ExcludeRegistries = []string{"registry.example.com:8443", imageTestExcludedRegistry, "registry.example.com:8443"}

	containers := func(images ...string) []corev1.Container {
		var cs []corev1.Container
		for i, image := range images {
			cs = append(cs, corev1.Container{Name: []string{"app", "metrics", "proxy"}[i], Image: image})
		}
		return cs
	}

	tests := []struct {
		name string
		cfg  ImageConfig
		req  Request
		spec corev1.PodSpec
		want []string
	}{
		{
			name: "all mirrored",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "tenant-a"},
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/busybox:1.36"}},
				Containers: containers(
					"123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/stefanprodan/podinfo:6.7.0",
					"123456789012.dkr.ecr.us-east-1.amazonaws.com/quay.io/prometheus/node-exporter"),
			},
		},
		{
			name: "istio sidecar added after image-rewrite",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "tenant-a"},
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "istio-init", Image: "docker.io/istio/proxyv2:1.24.0"}},
				Containers: []corev1.Container{
					{Name: "app", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/stefanprodan/podinfo:6.7.0"},
					{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.24.0"},
				},
			},
			want: []string{
				`spec.initContainers[0].image: container "istio-init" uses "docker.io/istio/proxyv2:1.24.0" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`,
				`spec.containers[1].image: container "istio-proxy" uses "docker.io/istio/proxyv2:1.24.0" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`,
			},
		},
		{
			name: "excluded registries listed sorted",
			cfg:  twoExclusions,
			req:  Request{Operation: "CREATE", Namespace: "tenant-a"},
			spec: corev1.PodSpec{Containers: containers(
				"nginx:1.27",
				"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3",
				"registry.example.com:8443/team/proxy:1")},
			want: []string{
				`spec.containers[0].image: container "app" uses "nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/", "602401143452.dkr.ecr.us-west-2.amazonaws.com/", "registry.example.com:8443/")`,
			},
		},
		{
			name: "istio auto placeholder",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "istio-ingress"},
			spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "auto"}}},
		},
		{
			name: "invalid references",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "tenant-a"},
			spec: corev1.PodSpec{Containers: containers("Bad::Image", "Nginx:1.27", "")},
			want: []string{
				`spec.containers[0].image: container "app" uses "Bad::Image" which is not a valid image reference (expected [registry[:port]/]repository[:tag][@digest])`,
				`spec.containers[1].image: container "metrics" uses "Nginx:1.27" which is not a valid image reference (repository names are lower case)`,
				`spec.containers[2].image: container "proxy" uses "" which is not a valid image reference (the image is empty)`,
			},
		},
		{
			name: "mirror host matched case-insensitively, look-alike hosts are not the mirror",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "tenant-a"},
			spec: corev1.PodSpec{Containers: containers(
				"123456789012.DKR.ECR.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27",
				"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/docker-hub/library/nginx:1.27",
				"evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/nginx:1.27")},
			want: []string{
				`spec.containers[1].image: container "metrics" uses "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/docker-hub/library/nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`,
				`spec.containers[2].image: container "proxy" uses "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/nginx:1.27" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`,
			},
		},
		{
			name: "ephemeral debug container",
			cfg:  noExclusions,
			req:  Request{Operation: "UPDATE", SubResource: "ephemeralcontainers", Namespace: "tenant-a"},
			spec: corev1.PodSpec{
				Containers: containers("123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/stefanprodan/podinfo:6.7.0"),
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debugger-x7k2p", Image: "busybox:1.36"}}},
			},
			want: []string{
				`spec.ephemeralContainers[0].image: container "debugger-x7k2p" uses "busybox:1.36" which is not in the mirror (allowed: images under "123456789012.dkr.ecr.us-east-1.amazonaws.com/")`,
			},
		},
		{
			name: "excluded namespace",
			cfg:  noExclusions,
			req:  Request{Operation: "CREATE", Namespace: "kube-system"},
			spec: corev1.PodSpec{Containers: containers("registry.k8s.io/kube-proxy:v1.31.0", "Bad::Image")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			before := pod.DeepCopy()
			var got []string
			for _, v := range NewImageRegistry(tt.cfg).Validate(tt.req, pod) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() violations:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(pod, before) {
				t.Errorf("Validate() changed the pod")
			}
		})
	}
}

// TestImageRegistryAcceptsImageRewrite checks the two policies agree: every
// image image-rewrite produces passes image-registry.
func TestImageRegistryAcceptsImageRewrite(t *testing.T) {
	cfg := imageTestHubConfig()
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
		Containers: []corev1.Container{
			{Name: "app", Image: "ghcr.io/stefanprodan/podinfo:6.7.0"},
			{Name: "port", Image: "localhost:5000/app"},
			{Name: "digest", Image: "registry.k8s.io/ingress-nginx/controller:v1.11.0@sha256:2ad18f14b91c25b0af8d3810abdb5c0d0f8db0e1157abc995a65ff6c0117ded1"},
			{Name: "istio-proxy", Image: "auto"},
			{Name: "cni", Image: "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3"},
		},
	}}
	req := Request{Operation: "CREATE", Namespace: "tenant-a"}
	if before := NewImageRegistry(cfg).Validate(req, pod.DeepCopy()); len(before) != 4 {
		t.Fatalf("before image-rewrite: %d violations, want 4: %v", len(before), before)
	}
	if lines := NewImageRewrite(cfg).Mutate(req, pod); len(lines) != 4 {
		t.Fatalf("image-rewrite made %d changes, want 4: %q", len(lines), lines)
	}
	if after := NewImageRegistry(cfg).Validate(req, pod); len(after) != 0 {
		t.Errorf("after image-rewrite: violations %v, want none", after)
	}
}

// On an UPDATE, image-registry judges the images the update brings in; the
// ones it leaves as they were are existing violations (reported, not denied).
func TestImageRegistryUpdate(t *testing.T) {
	const mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	const allowed = `(allowed: images under "` + mirror + `/", "` + imageTestExcludedRegistry + `/")`
	pod := func(containers []corev1.Container, ephemeral ...corev1.EphemeralContainer) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: containers, EphemeralContainers: ephemeral}}
	}
	debug := func(name, image string) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: image}}
	}
	auditAdmitted := []corev1.Container{{Name: "app", Image: mirror + "/docker-hub/library/nginx:1.27"}, {Name: "cache", Image: "redis:7.2"}}

	tests := []struct {
		name     string
		sub      string
		old, new *corev1.Pod
		want     []string // Violation.String(), "existing: " first when marked Existing
	}{
		{
			name: "set image outside the mirror: denied; the untouched unmirrored image is existing",
			old:  pod(auditAdmitted),
			new:  pod([]corev1.Container{{Name: "app", Image: "quay.io/evil/miner:1"}, {Name: "cache", Image: "redis:7.2"}}),
			want: []string{
				`spec.containers[0].image: container "app" uses "quay.io/evil/miner:1" which is not in the mirror ` + allowed,
				`existing: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + allowed,
			},
		},
		{
			name: "set image into the mirror: only the existing violation",
			old:  pod(auditAdmitted),
			new:  pod([]corev1.Container{{Name: "app", Image: mirror + "/docker-hub/library/nginx:1.28"}, {Name: "cache", Image: "redis:7.2"}}),
			want: []string{`existing: spec.containers[1].image: container "cache" uses "redis:7.2" which is not in the mirror ` + allowed},
		},
		{
			name: "the unmirrored image changed to another unmirrored one: denied",
			old:  pod(auditAdmitted),
			new:  pod([]corev1.Container{auditAdmitted[0], {Name: "cache", Image: "redis:7.4"}}),
			want: []string{`spec.containers[1].image: container "cache" uses "redis:7.4" which is not in the mirror ` + allowed},
		},
		{
			name: "an invalid reference brought in: denied as such",
			old:  pod(auditAdmitted[:1]),
			new:  pod([]corev1.Container{{Name: "app", Image: "Nginx:1.27"}}),
			want: []string{`spec.containers[0].image: container "app" uses "Nginx:1.27" which is not a valid image reference (repository names are lower case)`},
		},
		{
			name: "a container added (or renamed): judged as new",
			old:  pod(auditAdmitted[:1]),
			new:  pod([]corev1.Container{auditAdmitted[0], {Name: "sidecar", Image: "redis:7.2"}}),
			want: []string{`spec.containers[1].image: container "sidecar" uses "redis:7.2" which is not in the mirror ` + allowed},
		},
		{
			name: "second kubectl debug: the new ephemeral container is judged, the first one is existing",
			sub:  "ephemeralcontainers",
			old:  pod(auditAdmitted[:1], debug("first", "busybox:1.36")),
			new:  pod(auditAdmitted[:1], debug("first", "busybox:1.36"), debug("second", "nicolaka/netshoot")),
			want: []string{
				`existing: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + allowed,
				`spec.ephemeralContainers[1].image: container "second" uses "nicolaka/netshoot" which is not in the mirror ` + allowed,
			},
		},
		{
			name: "second kubectl debug, mirrored: only the existing violation",
			sub:  "ephemeralcontainers",
			old:  pod(auditAdmitted[:1], debug("first", "busybox:1.36")),
			new:  pod(auditAdmitted[:1], debug("first", "busybox:1.36"), debug("second", mirror+"/docker-hub/nicolaka/netshoot:latest")),
			want: []string{`existing: spec.ephemeralContainers[0].image: container "first" uses "busybox:1.36" which is not in the mirror ` + allowed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Operation: "UPDATE", SubResource: tt.sub, Namespace: "tenant-a", OldObject: tt.old}
			var got []string
			for _, v := range NewImageRegistry(imageTestHubConfig()).Validate(req, tt.new) {
				s := v.String()
				if v.Existing {
					s = "existing: " + s
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}
