package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// jobProxyDefaults is jobProxy with nothing set, as documented in the README.
func jobProxyDefaults() policies.JobProxyConfig {
	return policies.JobProxyConfig{
		Strategy:            "auto",
		IstioNativeSidecars: "auto",
		HelperImage:         "ghcr.io/flux-infra/platform-webhook:v0.1.0",
		ReadyTimeout:        "5m",
	}
}

func TestJobProxyConfig(t *testing.T) {
	const head = "policies:\n  imageRewrite:\n    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  jobProxy:\n"
	t.Run("defaults", func(t *testing.T) {
		if got := config.Default().Policies.JobProxy.JobProxyConfig; !reflect.DeepEqual(got, jobProxyDefaults()) {
			t.Errorf("embedded default jobProxy = %+v, want %+v", got, jobProxyDefaults())
		}
	})
	t.Run("istiod mode unquoted true or false", func(t *testing.T) {
		for _, v := range []string{"false", "true", `"false"`} {
			c, err := config.Parse("config.yaml", []byte(head+"    istioNativeSidecars: "+v+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(c.Policies.JobProxy.IstioNativeSidecars), strings.Trim(v, `"`); got != want {
				t.Errorf("istioNativeSidecars: %s = %q, want %q", v, got, want)
			}
		}
	})
	t.Run("every field", func(t *testing.T) {
		c, err := config.Parse("config.yaml", []byte(head+`    strategy: wrapper
    nativeSidecars: true
    istioNativeSidecars: "false"
    helperImage: 123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/flux-infra/platform-webhook:v0.1.0
    readyTimeout: 90s
`))
		if err != nil {
			t.Fatal(err)
		}
		want := policies.JobProxyConfig{
			Strategy:            "wrapper",
			NativeSidecars:      true,
			IstioNativeSidecars: "false",
			HelperImage:         "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/flux-infra/platform-webhook:v0.1.0",
			ReadyTimeout:        "90s",
		}
		if got := c.Policies.JobProxy.JobProxyConfig; !reflect.DeepEqual(got, want) {
			t.Errorf("jobProxy = %+v, want %+v", got, want)
		}
	})
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown strategy", "    strategy: sidecar\n",
			`config.yaml:5: policies.jobProxy.strategy: Unsupported value: "sidecar": supported values: "wrapper", "native", "auto"`},
		{"istiod mode a number", "    istioNativeSidecars: 1\n",
			`config.yaml:5: policies.jobProxy.istioNativeSidecars: must be a string (found number)`},
		{"unknown istiod mode", "    istioNativeSidecars: enabled\n",
			`config.yaml:5: policies.jobProxy.istioNativeSidecars: Unsupported value: "enabled": supported values: "auto", "true", "false"`},
		{"bad helper image", "    mode: audit\n    helperImage: \"ghcr.io/flux-infra/platform-webhook:\"\n",
			`config.yaml:6: policies.jobProxy.helperImage: Invalid value: "ghcr.io/flux-infra/platform-webhook:": must be an image reference such as "ghcr.io/flux-infra/platform-webhook:v0.1.0"`},
		{"ready timeout too short", "    readyTimeout: 10ms\n",
			`config.yaml:5: policies.jobProxy.readyTimeout: Invalid value: "10ms": must be at least "1s"`},
		{"ready timeout not a duration", "    readyTimeout: five minutes\n",
			`config.yaml:5: policies.jobProxy.readyTimeout: Invalid value: "five minutes": must be a duration such as "5m" or "90s"`},
		{"ready timeout a number", "    readyTimeout: 300\n",
			`config.yaml:5: policies.jobProxy.readyTimeout: must be a string (found number)`},
		{"misspelt field", "    nativeSidecar: true\n",
			`config.yaml:5: unknown field "policies.jobProxy.nativeSidecar"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("config.yaml", []byte(head+tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse() error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}
