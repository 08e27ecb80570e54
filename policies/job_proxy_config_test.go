package policies

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestJobProxyConfigDefault(t *testing.T) {
	var c JobProxyConfig
	c.Default()
	want := JobProxyConfig{
		Strategy:            "auto",
		IstioNativeSidecars: "auto",
		HelperImage:         "ghcr.io/flux-infra/platform-webhook:v0.1.0",
		ReadyTimeout:        "5m",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() = %+v, want %+v", c, want)
	}
	if errs := c.Validate(field.NewPath("policies", "jobProxy")); len(errs) > 0 {
		t.Errorf("the defaults do not validate: %v", errs)
	}
	set := JobProxyConfig{Strategy: "wrapper", NativeSidecars: true, IstioNativeSidecars: "false", HelperImage: "mirror.example.com/platform-webhook:v0.2.0",
		ReadyTimeout: "1m"}
	got := set
	got.Default()
	if !reflect.DeepEqual(got, set) {
		t.Errorf("Default() changed set fields: %+v", got)
	}
}

func TestJobProxyConfigValidate(t *testing.T) {
	valid := func(mutate func(*JobProxyConfig)) JobProxyConfig {
		c := JobProxyConfig{}
		c.Default()
		mutate(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  JobProxyConfig
		want []string
	}{
		{"native", valid(func(c *JobProxyConfig) { c.Strategy = "native" }), nil},
		{"auto with native sidecars", valid(func(c *JobProxyConfig) { c.Strategy = "auto"; c.NativeSidecars = true }), nil},
		{"unknown strategy", valid(func(c *JobProxyConfig) { c.Strategy = "sidecar" }),
			[]string{`policies.jobProxy.strategy: Unsupported value: "sidecar": supported values: "wrapper", "native", "auto"`}},
		{"istiod native sidecars true", valid(func(c *JobProxyConfig) { c.IstioNativeSidecars = "true" }), nil},
		{"unknown istiod native sidecars mode", valid(func(c *JobProxyConfig) { c.IstioNativeSidecars = "yes" }),
			[]string{`policies.jobProxy.istioNativeSidecars: Unsupported value: "yes": supported values: "auto", "true", "false"`}},
		{"no helper image", valid(func(c *JobProxyConfig) { c.HelperImage = "" }),
			[]string{`policies.jobProxy.helperImage: Required value`}},
		{"bad helper image", valid(func(c *JobProxyConfig) { c.HelperImage = "Ghcr.io/Platform Webhook" }),
			[]string{`policies.jobProxy.helperImage: Invalid value: "Ghcr.io/Platform Webhook": must be an image reference such as "ghcr.io/flux-infra/platform-webhook:v0.1.0"`}},
		{"no ready timeout", valid(func(c *JobProxyConfig) { c.ReadyTimeout = "" }),
			[]string{`policies.jobProxy.readyTimeout: Required value`}},
		{"ready timeout under a second", valid(func(c *JobProxyConfig) { c.ReadyTimeout = "500ms" }),
			[]string{`policies.jobProxy.readyTimeout: Invalid value: "500ms": must be at least "1s"`}},
		{"negative ready timeout", valid(func(c *JobProxyConfig) { c.ReadyTimeout = "-1m" }),
			[]string{`policies.jobProxy.readyTimeout: Invalid value: "-1m": must be at least "1s"`}},
		{"ready timeout without unit", valid(func(c *JobProxyConfig) { c.ReadyTimeout = "300" }),
			[]string{`policies.jobProxy.readyTimeout: Invalid value: "300": must be a duration such as "5m" or "90s"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range tc.cfg.Validate(field.NewPath("policies", "jobProxy")) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate()\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
