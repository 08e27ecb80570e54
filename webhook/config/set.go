package config

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// Set is every policy built from the configuration, per kind of object, in
// the order they run. This is the one place policies are listed.
type Set struct {
	Pods *webhook.Chain[*corev1.Pod]
}

// Build makes the policy set; metrics may be nil.
func (c *Config) Build(metrics *webhook.Metrics) Set {
	images := c.Policies.ImageRewrite.ImageConfig
	return Set{
		Pods: &webhook.Chain[*corev1.Pod]{
			Mutators: []policies.Mutator[*corev1.Pod]{
				policies.NewImageRewrite(images),
			},
			Validators: []policies.Validator[*corev1.Pod]{
				policies.NewImageRegistry(images),
			},
			Modes:   c.ModeOf,
			Metrics: metrics,
		},
	}
}
