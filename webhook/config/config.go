// Package config is the webhook's configuration file: one YAML document,
// decoded strictly (unknown and duplicate fields are errors), defaulted, then
// validated once at start-up. Errors name the file, the line and the field.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is how errors and logs name the embedded default.
const DefaultName = "<embedded default>"

// Config is the configuration file. Its field names are a contract: extend,
// never rename.
type Config struct {
	// Mode is the default mode of every policy: enforce or audit.
	Mode     webhook.Mode `json:"mode,omitempty"`
	Policies Policies     `json:"policies"`
}

// Policies holds each policy's settings. An empty mode follows the default.
type Policies struct {
	ImageRewrite ImageRewrite `json:"imageRewrite"`
	// ImageRegistry's mode follows imageRewrite's unless set: a cluster
	// rolling the rewrite out in audit must not start denying pods.
	ImageRegistry PolicyMode    `json:"imageRegistry"`
	JobProxy      JobProxy      `json:"jobProxy"`
	FluxPlacement FluxPlacement `json:"fluxPlacement"`
	GatewayHosts  GatewayHosts  `json:"gatewayHosts"`
}

// PolicyMode is the mode override every policy has.
type PolicyMode struct {
	Mode webhook.Mode `json:"mode,omitempty"`
}

// ImageRewrite configures image-rewrite (and, through it, image-registry).
type ImageRewrite struct {
	Mode webhook.Mode `json:"mode,omitempty"`
	policies.ImageConfig
}

// JobProxy configures job-proxy.
type JobProxy struct {
	Mode webhook.Mode `json:"mode,omitempty"`
	policies.JobProxyConfig
}

// FluxPlacement configures flux-placement.
type FluxPlacement struct {
	Mode webhook.Mode `json:"mode,omitempty"`
	policies.FluxPlacementConfig
}

// GatewayHosts configures gateway-hosts.
type GatewayHosts struct {
	Mode webhook.Mode `json:"mode,omitempty"`
	policies.GatewayHostsConfig
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse(DefaultName, defaultYAML)
	if err != nil {
		panic("embedded default config: " + err.Error()) // a build defect, caught by tests
	}
	return c
}

// Load reads, decodes, defaults and validates a configuration file. An empty
// path gives the embedded default.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "no such file or directory", without Go's "open" prefix
		}
		return nil, fmt.Errorf("config file %s: %s", path, err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates configuration bytes; name is used in
// error messages ("config.yaml:4: policies.imageRewrite.registry: Required value").
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, errors.New(syntaxError(name, err))
	}
	if dups := duplicateKeys(name, &root); len(dups) > 0 {
		// YAML to JSON keeps only the last of duplicate keys: catch them here.
		return nil, errors.New(strings.Join(dups, "; "))
	}
	js, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c := &Config{}
	strict, err := kjson.UnmarshalStrict(js, c, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		if m := typeError.FindStringSubmatch(err.Error()); m != nil {
			if m[2] == "" { // the document itself
				return nil, fmt.Errorf("%s: must be %s (found %s)", at(name, &root, ""), goTypeWords(m[3]), m[1])
			}
			path := jsonPath(m[2])
			return nil, fmt.Errorf("%s: %s: must be %s (found %s)", at(name, &root, path), path, goTypeWords(m[3]), m[1])
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			path := unknownFieldPath(e.Error())
			msgs = append(msgs, fmt.Sprintf("%s: %s", at(name, &root, path), e.Error()))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	c.setDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, fmt.Sprintf("%s: %s", at(name, &root, e.Field), e.Error()))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = webhook.Enforce
	}
	c.Policies.ImageRewrite.ImageConfig.Default()
	c.Policies.JobProxy.JobProxyConfig.Default()
	c.Policies.FluxPlacement.FluxPlacementConfig.Default()
	c.Policies.GatewayHosts.GatewayHostsConfig.Default()
}

// Validate checks every field and names the bad ones.
func (c *Config) Validate() field.ErrorList {
	var errs field.ErrorList
	switch c.Mode {
	case webhook.Enforce, webhook.Audit:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("mode"), c.Mode, []webhook.Mode{webhook.Enforce, webhook.Audit}))
	}
	p := field.NewPath("policies")
	for _, pm := range []struct {
		path string
		mode webhook.Mode
	}{
		{"imageRewrite", c.Policies.ImageRewrite.Mode},
		{"imageRegistry", c.Policies.ImageRegistry.Mode},
		{"jobProxy", c.Policies.JobProxy.Mode},
		{"fluxPlacement", c.Policies.FluxPlacement.Mode},
		{"gatewayHosts", c.Policies.GatewayHosts.Mode},
	} {
		if pm.mode == "" {
			continue
		}
		if _, err := webhook.ParseMode(string(pm.mode)); err != nil {
			errs = append(errs, field.NotSupported(p.Child(pm.path, "mode"), pm.mode, []webhook.Mode{webhook.Enforce, webhook.Audit, webhook.Off}))
		}
	}
	errs = append(errs, c.Policies.ImageRewrite.ImageConfig.Validate(p.Child("imageRewrite"))...)
	errs = append(errs, c.Policies.JobProxy.JobProxyConfig.Validate(p.Child("jobProxy"))...)
	errs = append(errs, c.Policies.FluxPlacement.FluxPlacementConfig.Validate(p.Child("fluxPlacement"))...)
	errs = append(errs, c.Policies.GatewayHosts.GatewayHostsConfig.Validate(p.Child("gatewayHosts"))...)
	return errs
}

// ModeOf is the configured mode of a policy, before namespace labels.
func (c *Config) ModeOf(policy string) webhook.Mode {
	or := func(m webhook.Mode, fallback webhook.Mode) webhook.Mode {
		if m != "" {
			return m
		}
		return fallback
	}
	switch policy {
	case policies.ImageRewrite:
		return or(c.Policies.ImageRewrite.Mode, c.Mode)
	case policies.ImageRegistry:
		return or(c.Policies.ImageRegistry.Mode, c.ModeOf(policies.ImageRewrite))
	case policies.JobProxy:
		return or(c.Policies.JobProxy.Mode, c.Mode)
	case policies.FluxPlacement:
		return or(c.Policies.FluxPlacement.Mode, c.Mode)
	case policies.GatewayHosts:
		return or(c.Policies.GatewayHosts.Mode, c.Mode)
	}
	return c.Mode
}
