// Package webhook is the admission plumbing: it runs policies in their modes,
// turns their findings into patches, denials, warnings and audit annotations,
// and serves them over controller-runtime's webhook server. It knows nothing
// about images, Flux or Istio: the policies package does.
package webhook

import "fmt"

// Mode says what a policy's findings do.
type Mode string

const (
	// Enforce denies on violations and applies mutations.
	Enforce Mode = "enforce"
	// Audit never denies and never changes an object: findings become
	// warnings, an audit annotation, a log line and a metric.
	Audit Mode = "audit"
	// Off skips the policy.
	Off Mode = "off"
)

// ModeLabel on a namespace overrides the configured mode of every policy for
// objects in that namespace (per-tenant rollout). Only "audit" and "enforce"
// are honoured; any other value keeps the configured mode, never "off".
const ModeLabel = "flux-infra.io/admission-mode"

// ParseMode accepts "enforce", "audit" and "off".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Enforce, Audit, Off:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q", s)
}

// Effective is the mode a policy runs in for an object in a namespace with the
// given labels. A policy that is off in the configuration stays off: the label
// is for rolling a policy out per tenant, not for switching on what the
// platform team switched off.
func Effective(configured Mode, namespaceLabels map[string]string) Mode {
	if configured == Off {
		return Off
	}
	switch m := Mode(namespaceLabels[ModeLabel]); m {
	case Enforce, Audit:
		return m
	}
	return configured
}
