package policies

import "k8s.io/apimachinery/pkg/util/validation/field"

// JobProxyConfig configures the job-proxy policy.
type JobProxyConfig struct{}

// Default fills in unset fields.
func (c *JobProxyConfig) Default() {}

// Validate checks the settings and names the bad fields.
func (c JobProxyConfig) Validate(path *field.Path) field.ErrorList { return nil }
