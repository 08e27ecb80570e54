package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// placeholderMirror is the mirror of the embedded default (DESIGN.md).
const placeholderMirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

func TestDefault(t *testing.T) {
	c := config.Default()
	if c.Mode != webhook.Enforce {
		t.Errorf("Mode = %q, want enforce", c.Mode)
	}
	if got := c.Policies.ImageRewrite.Registry; got != placeholderMirror {
		t.Errorf("registry = %q, want %q", got, placeholderMirror)
	}
	if got := c.Policies.ImageRewrite.ExcludeNamespaces; !reflect.DeepEqual(got, []string{"kube-system"}) {
		t.Errorf("excludeNamespaces = %q, want [kube-system]", got)
	}
	if c.Policies.ImageRegistry.Mode != "" {
		t.Errorf("imageRegistry.mode = %q, want unset (following imageRewrite)", c.Policies.ImageRegistry.Mode)
	}
	for _, p := range []string{policies.ImageRewrite, policies.ImageRegistry, policies.JobProxy, policies.FluxPlacement, policies.GatewayHosts} {
		if got := c.ModeOf(p); got != webhook.Enforce {
			t.Errorf("ModeOf(%q) = %q, want enforce", p, got)
		}
	}
	// image-registry follows image-rewrite in the default.
	c.Policies.ImageRewrite.Mode = webhook.Audit
	if got := c.ModeOf(policies.ImageRegistry); got != webhook.Audit {
		t.Errorf("with imageRewrite in audit, ModeOf(image-registry) = %q, want audit", got)
	}
	// Default returns a fresh copy: the change above does not leak.
	if got := config.Default().ModeOf(policies.ImageRegistry); got != webhook.Enforce {
		t.Errorf("second Default(): ModeOf(image-registry) = %q, want enforce", got)
	}
}

func TestParseValid(t *testing.T) {
	c, err := config.Parse("config.yaml", []byte(`
mode: audit
policies:
  imageRewrite:
    mode: enforce
    registry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
    prefixes:
      docker.io: docker-hub
    excludeNamespaces: [kube-system, istio-system]
    excludeRegistries: [602401143452.dkr.ecr.us-west-2.amazonaws.com]
  imageRegistry:
    mode: audit
  jobProxy:
    mode: "off"
  fluxPlacement: {}
  gatewayHosts:
    mode: enforce
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &config.Config{
		Mode: webhook.Audit,
		Policies: config.Policies{
			ImageRewrite: config.ImageRewrite{
				Mode: webhook.Enforce,
				ImageConfig: policies.ImageConfig{
					Registry:           "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
					Prefixes:           map[string]string{"docker.io": "docker-hub"},
					UnlistedRegistries: policies.UnlistedDeny, // the default
					ExcludeNamespaces:  []string{"kube-system", "istio-system"},
					ExcludeRegistries:  []string{"602401143452.dkr.ecr.us-west-2.amazonaws.com"},
				},
			},
			ImageRegistry: config.PolicyMode{Mode: webhook.Audit},
			JobProxy:      config.JobProxy{Mode: webhook.Off, JobProxyConfig: jobProxyDefaults()},
			// fluxPlacement: {} gets the defaults of a standard Flux installation.
			FluxPlacement: config.FluxPlacement{FluxPlacementConfig: policies.FluxPlacementConfig{
				InfraNamespace:                    "flux-system",
				HelmControllerServiceAccount:      "helm-controller",
				KustomizeControllerServiceAccount: "kustomize-controller",
				ControllerServiceAccounts: []string{"helm-controller", "image-automation-controller", "image-reflector-controller",
					"kustomize-controller", "notification-controller", "source-controller", "source-watcher"},
			}},
			GatewayHosts: config.GatewayHosts{Mode: webhook.Enforce, GatewayHostsConfig: policies.GatewayHostsConfig{
				GatewayNamespaces: []string{"istio-ingress"},
			}},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
}

func TestParseDefaultsMode(t *testing.T) {
	c, err := config.Parse("config.yaml", []byte("policies:\n  imageRewrite:\n    registry: "+placeholderMirror+"\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Mode != webhook.Enforce {
		t.Errorf("Mode = %q, want enforce when unset", c.Mode)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "unknown field",
			yaml: `mode: enforce
policies:
  imageRewrite:
    registy: x
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
`,
			want: `config.yaml:4: unknown field "policies.imageRewrite.registy"`,
		},
		{
			name: "two unknown fields",
			yaml: `policies:
  imageRewrite:
    registy: x
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  jobProxy:
    mdoe: audit
`,
			want: `config.yaml:3: unknown field "policies.imageRewrite.registy"; config.yaml:6: unknown field "policies.jobProxy.mdoe"`,
		},
		{
			name: "unknown policy",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  imageRewriter:
    mode: audit
`,
			want: `config.yaml:4: unknown field "policies.imageRewriter"`,
		},
		{
			name: "missing registry: line of the nearest parent",
			yaml: `mode: enforce
policies:
  imageRewrite:
    excludeNamespaces: [kube-system]
`,
			want: `config.yaml:3: policies.imageRewrite.registry: Required value`,
		},
		{
			name: "missing policies: line of the document",
			yaml: `
mode: audit
`,
			want: `config.yaml:2: policies.imageRewrite.registry: Required value`,
		},
		{
			name: "empty file: no line to name",
			yaml: ``,
			want: `config.yaml: policies.imageRewrite.registry: Required value`,
		},
		{
			name: "bad top-level mode",
			yaml: `mode: strict
policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
`,
			want: `config.yaml:1: mode: Unsupported value: "strict": supported values: "enforce", "audit"`,
		},
		{
			name: "off is not a default mode",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
mode: "off"
`,
			want: `config.yaml:4: mode: Unsupported value: "off": supported values: "enforce", "audit"`,
		},
		{
			name: "bad policy mode",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  gatewayHosts:
    mode: strict
`,
			want: `config.yaml:5: policies.gatewayHosts.mode: Unsupported value: "strict": supported values: "enforce", "audit", "off"`,
		},
		{
			name: "bad image-rewrite mode",
			yaml: `policies:
  imageRewrite:
    mode: Enforce
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
`,
			want: `config.yaml:3: policies.imageRewrite.mode: Unsupported value: "Enforce": supported values: "enforce", "audit", "off"`,
		},
		{
			name: "string instead of a list",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    excludeNamespaces: kube-system
`,
			want: `config.yaml:4: policies.imageRewrite.excludeNamespaces: must be a list (found string)`,
		},
		{
			name: "list instead of a mapping",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    prefixes: [docker.io]
`,
			want: `config.yaml:4: policies.imageRewrite.prefixes: must be a mapping (found array)`,
		},
		{
			name: "string instead of a policy mapping",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  jobProxy: enforce
`,
			want: `config.yaml:4: policies.jobProxy: must be a mapping (found string)`,
		},
		{
			name: "number instead of a mode",
			yaml: `mode: 1
policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
`,
			want: `config.yaml:1: mode: must be a string (found number)`,
		},
		{
			name: "document is a list",
			yaml: `- mode: enforce
`,
			want: `config.yaml:1: must be a mapping (found array)`,
		},
		{
			name: "tab indentation",
			yaml: "mode: enforce\npolicies:\n\timageRewrite:\n",
			want: `config.yaml:3: found character that cannot start any token`,
		},
		{
			name: "duplicate key",
			yaml: `mode: enforce
policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    registry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
`,
			want: `config.yaml:5: duplicate field "policies.imageRewrite.registry"`,
		},
		{
			name: "duplicate top-level keys",
			yaml: `mode: enforce
policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
mode: audit
policies: {}
`,
			want: `config.yaml:5: duplicate field "mode"; config.yaml:6: duplicate field "policies"`,
		},
		{
			name: "duplicate key in a list item",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    excludeNamespaces:
      - {a: 1, a: 2}
`,
			want: `config.yaml:5: duplicate field "policies.imageRewrite.excludeNamespaces[0].a"`,
		},
		{
			name: "several validation errors",
			yaml: `mode: strict
policies:
  imageRewrite:
    excludeNamespaces: [kube-system, kube-system]
  jobProxy:
    mode: sometimes
`,
			want: `config.yaml:1: mode: Unsupported value: "strict": supported values: "enforce", "audit"; ` +
				`config.yaml:6: policies.jobProxy.mode: Unsupported value: "sometimes": supported values: "enforce", "audit", "off"; ` +
				`config.yaml:3: policies.imageRewrite.registry: Required value; ` +
				`config.yaml:4: policies.imageRewrite.excludeNamespaces[1]: Duplicate value: "kube-system"`,
		},
		{
			name: "bad prefix names its key",
			yaml: `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    prefixes:
      docker.io: Docker-Hub
`,
			// The key contains a dot, so the nearest key found is "prefixes".
			want: `config.yaml:4: policies.imageRewrite.prefixes[docker.io]: Invalid value: "Docker-Hub": must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("config.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error\n%s", c, tt.want)
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error: %+v", c)
			}
			got := err.Error()
			if got != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", got, tt.want)
			}
			for _, bad := range []string{"\n", "json:", ": yaml:", "line ", "Go struct", "Go value", "config.Config", "ImageConfig", "[]string"} {
				if strings.Contains(got, bad) {
					t.Errorf("error %q contains %q", got, bad)
				}
			}
		})
	}
}

func TestModeOf(t *testing.T) {
	all := []string{policies.ImageRewrite, policies.ImageRegistry, policies.JobProxy, policies.FluxPlacement, policies.GatewayHosts}
	const registry = "    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n"
	E, A, O := webhook.Enforce, webhook.Audit, webhook.Off
	tests := []struct {
		name string
		yaml string
		// want is the mode of each policy, in the order of all.
		want [5]webhook.Mode
	}{
		{"default enforce", "policies:\n  imageRewrite:\n" + registry,
			[5]webhook.Mode{E, E, E, E, E}},
		{"default audit", "mode: audit\npolicies:\n  imageRewrite:\n" + registry,
			[5]webhook.Mode{A, A, A, A, A}},
		{"per-policy override", "mode: audit\npolicies:\n  imageRewrite:\n" + registry + "  jobProxy:\n    mode: enforce\n  gatewayHosts:\n    mode: \"off\"\n",
			[5]webhook.Mode{A, A, E, A, O}},
		{"image-registry follows image-rewrite in audit", "policies:\n  imageRewrite:\n    mode: audit\n" + registry,
			[5]webhook.Mode{A, A, E, E, E}},
		{"image-registry follows image-rewrite off", "policies:\n  imageRewrite:\n    mode: \"off\"\n" + registry,
			[5]webhook.Mode{O, O, E, E, E}},
		{"image-registry follows image-rewrite, not the default", "mode: audit\npolicies:\n  imageRewrite:\n    mode: enforce\n" + registry,
			[5]webhook.Mode{E, E, A, A, A}},
		{"explicit image-registry wins", "policies:\n  imageRewrite:\n    mode: \"off\"\n" + registry + "  imageRegistry:\n    mode: enforce\n",
			[5]webhook.Mode{O, E, E, E, E}},
		{"explicit image-registry audit under enforce rewrite", "policies:\n  imageRewrite:\n" + registry + "  imageRegistry:\n    mode: audit\n",
			[5]webhook.Mode{E, A, E, E, E}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("config.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for i, p := range all {
				if got := c.ModeOf(p); got != tt.want[i] {
					t.Errorf("ModeOf(%q) = %q, want %q", p, got, tt.want[i])
				}
			}
		})
	}
	// A policy the config does not know runs in the default mode.
	c, err := config.Parse("config.yaml", []byte("mode: audit\npolicies:\n  imageRewrite:\n"+registry))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ModeOf("future-policy"); got != webhook.Audit {
		t.Errorf("ModeOf(future-policy) = %q, want audit", got)
	}
}

func TestLoad(t *testing.T) {
	t.Run("empty path is the embedded default", func(t *testing.T) {
		c, err := config.Load("")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, config.Default()) {
			t.Errorf("Load(\"\") = %+v, want the default %+v", c, config.Default())
		}
		if c.Policies.ImageRewrite.Registry != placeholderMirror {
			t.Errorf("registry = %q, want %q", c.Policies.ImageRewrite.Registry, placeholderMirror)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.yaml")
		c, err := config.Load(path)
		if err == nil {
			t.Fatalf("Load(%q) = %+v, want an error", path, c)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %q", err, path)
		}
		if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("error %q does not say the file is missing", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "platform-webhook.yaml")
		if err := os.WriteFile(path, []byte("mode: audit\npolicies:\n  imageRewrite:\n    registry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Mode != webhook.Audit || c.Policies.ImageRewrite.Registry != "210987654321.dkr.ecr.eu-west-1.amazonaws.com" {
			t.Errorf("Load = %+v, want mode audit and the file's registry", c)
		}
	})
	t.Run("bad file is named by its path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(path, []byte("mode: strict\npolicies:\n  imageRewrite:\n    registry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path)
		want := path + `:1: mode: Unsupported value: "strict": supported values: "enforce", "audit"`
		if err == nil || err.Error() != want {
			t.Errorf("Load error:\n got %v\nwant %s", err, want)
		}
	})
}
