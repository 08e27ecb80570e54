package policies

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestImageConfigValidate(t *testing.T) {
	path := field.NewPath("policies", "imageRewrite")
	withRegistry := func(registry string) ImageConfig {
		cfg := imageTestHubConfig()
		cfg.Registry = registry
		return cfg
	}

	tests := []struct {
		name string
		cfg  ImageConfig
		want []string
	}{
		{name: "valid", cfg: imageTestHubConfig()},
		{name: "valid with port, nested prefix, port host key", cfg: ImageConfig{
			Registry:          "localhost:5000",
			Prefixes:          map[string]string{"quay.io": "mirror/quay", "registry.example.com:8443": "internal_registry", "ghcr.io": "github.cache"},
			ExcludeNamespaces: []string{"kube-system", "istio-system"},
			ExcludeRegistries: []string{"602401143452.dkr.ecr.us-west-2.amazonaws.com", "localhost"},
		}},
		{name: "minimal", cfg: ImageConfig{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com"}},
		{name: "missing registry", cfg: withRegistry(""), want: []string{
			`policies.imageRewrite.registry: Required value`,
		}},
		{name: "registry with scheme", cfg: withRegistry("https://123456789012.dkr.ecr.us-east-1.amazonaws.com"), want: []string{
			`policies.imageRewrite.registry: Invalid value: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com": must be a host name without a scheme`,
		}},
		{name: "registry with path", cfg: withRegistry("123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub"), want: []string{
			`policies.imageRewrite.registry: Invalid value: "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub": must be a host name without a path`,
		}},
		{name: "registry with tag", cfg: withRegistry("123456789012.dkr.ecr.us-east-1.amazonaws.com:latest"), want: []string{
			`policies.imageRewrite.registry: Invalid value: "123456789012.dkr.ecr.us-east-1.amazonaws.com:latest": must be a host name, optionally with a port`,
		}},
		{name: "registry upper case", cfg: withRegistry("123456789012.DKR.ECR.us-east-1.amazonaws.com"), want: []string{
			`policies.imageRewrite.registry: Invalid value: "123456789012.DKR.ECR.us-east-1.amazonaws.com": must be lower case`,
		}},
		{name: "registry without dot", cfg: withRegistry("mirror"), want: []string{
			`policies.imageRewrite.registry: Invalid value: "mirror": must contain a dot or a port, or be "localhost", to be read as a registry host`,
		}},
		{name: "bad prefixes", cfg: ImageConfig{
			Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			Prefixes: map[string]string{
				"docker.io":        "Docker-Hub",
				"quay.io":          "/quay",
				"ghcr.io":          "ghcr/",
				"gcr.io":           "",
				"index.docker.io":  "docker-hub",
				"https://mcr.io":   "mcr",
				"registry.k8s.io":  "k8s--mirror",
				"public.ecr.aws":   "ecr:public",
				"registry.example": "ok",
			},
		}, want: []string{
			// Sorted by host.
			`policies.imageRewrite.prefixes[docker.io]: Invalid value: "Docker-Hub": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
			`policies.imageRewrite.prefixes[gcr.io]: Required value`,
			`policies.imageRewrite.prefixes[ghcr.io]: Invalid value: "ghcr/": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
			`policies.imageRewrite.prefixes[https://mcr.io]: Invalid value: "https://mcr.io": must be a host name without a scheme`,
			`policies.imageRewrite.prefixes[index.docker.io]: Invalid value: "index.docker.io": must be "docker.io": image references normalize "index.docker.io" to "docker.io"`,
			`policies.imageRewrite.prefixes[public.ecr.aws]: Invalid value: "ecr:public": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
			`policies.imageRewrite.prefixes[quay.io]: Invalid value: "/quay": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
			`policies.imageRewrite.prefixes[registry.k8s.io]: Invalid value: "k8s--mirror": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
		}},
		{name: "bad namespaces", cfg: ImageConfig{
			Registry:          "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			ExcludeNamespaces: []string{"kube-system", "Kube_System", "istio.system", "kube-system"},
		}, want: []string{
			`policies.imageRewrite.excludeNamespaces[1]: Invalid value: "Kube_System": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`policies.imageRewrite.excludeNamespaces[2]: Invalid value: "istio.system": must not contain dots`,
			`policies.imageRewrite.excludeNamespaces[3]: Duplicate value: "kube-system"`,
		}},
		{name: "bad excluded registries", cfg: ImageConfig{
			Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			ExcludeRegistries: []string{
				"602401143452.dkr.ecr.us-west-2.amazonaws.com",
				"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni",
				"",
				"index.docker.io",
				"602401143452.dkr.ecr.us-west-2.amazonaws.com",
			},
		}, want: []string{
			`policies.imageRewrite.excludeRegistries[1]: Invalid value: "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni": must be a host name without a path`,
			`policies.imageRewrite.excludeRegistries[2]: Required value`,
			`policies.imageRewrite.excludeRegistries[3]: Invalid value: "index.docker.io": must be "docker.io": image references normalize "index.docker.io" to "docker.io"`,
			`policies.imageRewrite.excludeRegistries[4]: Duplicate value: "602401143452.dkr.ecr.us-west-2.amazonaws.com"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, err := range tt.cfg.Validate(path) {
				got = append(got, err.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate():\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestImageConfigValidateAggregate(t *testing.T) {
	cfg := ImageConfig{ExcludeNamespaces: []string{"kube-system", "kube-system"}}
	got := cfg.Validate(field.NewPath("policies", "imageRewrite")).ToAggregate().Error()
	want := `[policies.imageRewrite.registry: Required value, policies.imageRewrite.excludeNamespaces[1]: Duplicate value: "kube-system"]`
	if got != want {
		t.Errorf("ToAggregate().Error()\n got %s\nwant %s", got, want)
	}
}
