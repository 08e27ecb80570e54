package policies

import (
	"fmt"
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
		// A registry that is not ECR: prefixes are repository paths, any upstream.
		{name: "bad prefixes", cfg: ImageConfig{
			Registry: "mirror.example.com",
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
		// An ECR registry: what CreatePullThroughCacheRule accepts.
		{name: "ecr rules", cfg: ImageConfig{
			Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			Prefixes: map[string]string{
				"docker.io":           "docker-hub",
				"quay.io":             "quay/", // ECR assumes the trailing '/' anyway
				"ghcr.io":             "g",
				"gcr.io":              "gcr",
				"mcr.microsoft.com":   "mcr",
				"nvcr.io":             "nvidia",
				"registry.k8s.io":     "k8s--mirror",
				"public.ecr.aws":      "ROOT",
				"registry.gitlab.com": "a-very-long-prefix-for-gitlab-com",
				"cgr.dev":             "docker-hub",
				"myteam.azurecr.io":   "azure/myteam",
				"210987654321.dkr.ecr.eu-west-1.amazonaws.com": "ROOT",
				"localhost:5000": "local",
			},
		}, want: []string{
			// Hosts are checked sorted: cgr.dev took "docker-hub" first.
			`policies.imageRewrite.prefixes[docker.io]: Invalid value: "docker-hub": is also the prefix of "cgr.dev": each rule needs a prefix of its own`,
			`policies.imageRewrite.prefixes[gcr.io]: Invalid value: "gcr.io": ECR pull-through cache has no rule for this upstream (supported: ` + supportedUpstreams + `); list it in excludeRegistries, or set unlistedRegistries`,
			`policies.imageRewrite.prefixes[ghcr.io]: Invalid value: "g": must be 2 to 30 characters long (ECR's ecrRepositoryPrefix)`,
			`policies.imageRewrite.prefixes[localhost:5000]: Invalid value: "localhost:5000": ECR pull-through cache has no rule for this upstream (supported: ` + supportedUpstreams + `); list it in excludeRegistries, or set unlistedRegistries`,
			`policies.imageRewrite.prefixes[mcr.microsoft.com]: Invalid value: "mcr.microsoft.com": ECR pull-through cache has no rule for this upstream (supported: ` + supportedUpstreams + `); list it in excludeRegistries, or set unlistedRegistries`,
			`policies.imageRewrite.prefixes[nvcr.io]: Invalid value: "nvcr.io": ECR pull-through cache has no rule for this upstream (supported: ` + supportedUpstreams + `); list it in excludeRegistries, or set unlistedRegistries`,
			`policies.imageRewrite.prefixes[public.ecr.aws]: Invalid value: "ROOT": ROOT is a prefix only for an upstream ECR registry`,
			`policies.imageRewrite.prefixes[registry.gitlab.com]: Invalid value: "a-very-long-prefix-for-gitlab-com": must be 2 to 30 characters long (ECR's ecrRepositoryPrefix)`,
			`policies.imageRewrite.prefixes[registry.k8s.io]: Invalid value: "k8s--mirror": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
		}},
		{name: "ecr at most 50 rules", cfg: func() ImageConfig {
			cfg := ImageConfig{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Prefixes: map[string]string{}}
			for i := range 51 {
				cfg.Prefixes[fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", i)] = fmt.Sprintf("ecr-%d", i)
			}
			return cfg
		}(), want: []string{
			`policies.imageRewrite.prefixes: Too many: 51: must have at most 50 items`,
		}},
		{name: "aliases, pushed and unlistedRegistries", cfg: ImageConfig{
			Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			Prefixes: map[string]string{"docker.io": "docker-hub", "quay.io": "quay"},
			Aliases: map[string]string{
				"mirror.gcr.io":   "docker.io",
				"k8s.gcr.io":      "registry.k8s.io",
				"quay.io":         "docker.io",
				"index.docker.io": "docker.io",
			},
			Pushed:             []string{"apps", "quay/", "Team", "apps/"},
			UnlistedRegistries: "allow",
		}, want: []string{
			`policies.imageRewrite.aliases[index.docker.io]: Invalid value: "index.docker.io": must be "docker.io": image references normalize "index.docker.io" to "docker.io"`,
			`policies.imageRewrite.aliases[k8s.gcr.io]: Invalid value: "registry.k8s.io": must be an upstream with a rule in prefixes ("docker.io", "quay.io")`,
			`policies.imageRewrite.aliases[quay.io]: Invalid value: "quay.io": has a rule in prefixes itself: an alias is another name of an upstream with a rule`,
			`policies.imageRewrite.pushed[1]: Invalid value: "quay/": is the prefix of the pull-through cache rule for "quay.io"`,
			`policies.imageRewrite.pushed[2]: Invalid value: "Team": must be a lower-case repository path such as "apps" or "team-a/apps"`,
			`policies.imageRewrite.pushed[3]: Duplicate value: "apps/"`,
			`policies.imageRewrite.unlistedRegistries: Unsupported value: "allow": supported values: "deny", "direct", "hostPrefix"`,
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
