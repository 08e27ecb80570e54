package webhook

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/policies"
)

// Object is what a chain admits: a typed API object that can deep-copy itself.
type Object interface {
	runtime.Object
	comparable
}

// Chain runs the mutating and the validating policies of one kind of object,
// each in its mode. The server runs the mutators and the validators in
// separate webhooks; review runs both, mutators first, as the apiserver would.
type Chain[T Object] struct {
	Mutators   []policies.Mutator[T]
	Validators []policies.Validator[T]
	// Modes gives a policy's configured mode (before the namespace label).
	Modes func(policy string) Mode
	// Override, when set, replaces the mode of every policy that is not off,
	// namespace labels included (review --mode).
	Override Mode
	// Metrics counts decisions; nil counts nothing.
	Metrics *Metrics
	// Lookups, when set, adds read-only cluster look-ups to every request
	// before the policies see it (the Gateways of gateway-hosts, from an
	// informer cache in the server, from --context in review).
	Lookups func(req *policies.Request)
	// MutatorsElsewhere names the mutating policies that run on the object
	// before these validators but in another webhook (Endpoints serves one
	// policy per webhook): with Mutators, what Request.EnforcedMutators
	// is made from.
	MutatorsElsewhere []string
	// Loading, when set, names the kinds the look-ups read whose informers
	// are starting (KindFollower.Loading): denials then say to retry.
	Loading func() []string
}

// Decision is what a chain decided about one object.
type Decision struct {
	// Denials are the enforce-mode violations, one "[policy] field: detail" each.
	Denials []string
	// Warnings go back to the client (kubectl prints them as "Warning: ...").
	Warnings []string
	// AuditAnnotations, keyed by policy, record audit-mode findings.
	AuditAnnotations map[string]string
	// Mutated is true when an enforce-mode mutator changed the object.
	Mutated bool
}

// Allowed reports whether the object is admitted.
func (d *Decision) Allowed() bool { return len(d.Denials) == 0 }

// Message is the denial message: the violations joined with "; ".
func (d *Decision) Message() string { return strings.Join(d.Denials, "; ") }

func (d *Decision) audit(policy string, findings []string) {
	for _, f := range findings {
		d.Warnings = append(d.Warnings, "["+policy+"] "+f)
	}
	if d.AuditAnnotations == nil {
		d.AuditAnnotations = map[string]string{}
	}
	d.AuditAnnotations[policy] = strings.Join(findings, "; ")
}

// deny records violations: denials in enforce mode, "would deny: ..."
// findings in audit mode.
func (d *Decision) deny(ctx context.Context, policy string, mode Mode, violations []policies.Violation) {
	log := logf.FromContext(ctx)
	switch mode {
	case Enforce:
		for _, v := range violations {
			d.Denials = append(d.Denials, "["+policy+"] "+v.String())
		}
		log.Info("denied", "policy", policy, "mode", mode, "decision", "deny", "violations", len(violations))
	case Audit:
		findings := make([]string, len(violations))
		for i, v := range violations {
			findings[i] = "would deny: " + v.String()
		}
		d.audit(policy, findings)
		log.Info("audit finding", "policy", policy, "mode", mode, "decision", "deny", "violations", len(violations))
	}
}

// Merge adds another decision's findings to d.
func (d *Decision) Merge(o Decision) {
	d.Denials = append(d.Denials, o.Denials...)
	d.Warnings = append(d.Warnings, o.Warnings...)
	for k, v := range o.AuditAnnotations {
		if d.AuditAnnotations == nil {
			d.AuditAnnotations = map[string]string{}
		}
		d.AuditAnnotations[k] = v
	}
	d.Mutated = d.Mutated || o.Mutated
}

func (c *Chain[T]) mode(policy string, req policies.Request) Mode {
	configured := Enforce
	if c.Modes != nil {
		configured = c.Modes(policy)
	}
	if c.Override != "" && configured != Off {
		return c.Override
	}
	return Effective(configured, req.NamespaceLabels)
}

// Mutate runs the mutators on obj. Enforce-mode mutators change obj in place;
// audit-mode mutators run on a copy and report what they would change. A
// mutator that is a policies.Refuser and refuses obj denies it (audit: would
// deny) and does not change it.
func (c *Chain[T]) Mutate(ctx context.Context, req policies.Request, obj T) Decision {
	var d Decision
	log := logf.FromContext(ctx)
	if c.Lookups != nil {
		c.Lookups(&req)
	}
	for _, m := range c.Mutators {
		name := m.Name()
		mode := c.mode(name, req)
		if r, ok := m.(policies.Refuser[T]); ok && mode != Off {
			// A mutator that cannot change the object safely denies it.
			if violations := r.Refuse(req, obj); len(violations) > 0 {
				c.Metrics.count(name, mode, true, "deny")
				d.deny(ctx, name, mode, violations)
				continue
			}
		}
		switch mode {
		case Enforce:
			changes := m.Mutate(req, obj)
			c.Metrics.count(name, mode, len(changes) > 0, "mutate")
			if len(changes) > 0 {
				d.Mutated = true
				log.V(1).Info("mutated", "policy", name, "mode", mode, "decision", "mutate", "changes", len(changes))
			}
		case Audit:
			changes := m.Mutate(req, obj.DeepCopyObject().(T))
			c.Metrics.count(name, mode, len(changes) > 0, "mutate")
			if len(changes) > 0 {
				findings := make([]string, len(changes))
				for i, ch := range changes {
					findings[i] = "would " + ch
				}
				d.audit(name, findings)
				log.Info("audit finding", "policy", name, "mode", mode, "decision", "mutate", "findings", len(findings))
			}
		}
	}
	return d
}

// Validate runs the validators on obj. A validator that is a
// policies.Warner adds its warnings as they are ("[policy] ..."), in every
// mode but off.
//
// Updates are judged by what they change (the rules are in update.go).
func (c *Chain[T]) Validate(ctx context.Context, req policies.Request, obj T) Decision {
	var d Decision
	if c.Lookups != nil {
		c.Lookups(&req)
	}
	if reason, skip := beingDeleted[T](req); skip {
		logf.FromContext(ctx).V(1).Info("allowed without review: " + reason)
		return d
	}
	req.EnforcedMutators = nil
	names := slices.Clone(c.MutatorsElsewhere)
	for _, m := range c.Mutators {
		names = append(names, m.Name())
	}
	for _, name := range names {
		if c.mode(name, req) == Enforce {
			req.EnforcedMutators = append(req.EnforcedMutators, name)
		}
	}
	for _, v := range c.Validators {
		name := v.Name()
		mode := c.mode(name, req)
		if mode == Off {
			continue
		}
		if w, ok := v.(policies.Warner[T]); ok {
			// Plain warnings, in enforce and audit alike: never a denial.
			for _, warning := range w.Warn(req, obj) {
				d.Warnings = append(d.Warnings, "["+name+"] "+warning)
			}
		}
		violations := existingOnMetadataUpdate(req, v, v.Validate(req, obj))
		denied, existing := splitExisting(violations)
		decision := "deny"
		if len(denied) == 0 {
			decision = "warn"
		}
		c.Metrics.count(name, mode, len(violations) > 0, decision)
		if len(existing) > 0 {
			d.existing(ctx, name, mode, existing)
		}
		if len(denied) > 0 {
			d.deny(ctx, name, mode, stillLoading(c.Loading, denied))
		}
	}
	return d
}

// stillLoading replaces denials made while kinds the look-ups read are still
// loading (their CRDs just installed, the informers not synced) with one
// that says so: "does not exist" may only mean "not seen yet".
func stillLoading(loading func() []string, denied []policies.Violation) []policies.Violation {
	if loading == nil {
		return denied
	}
	kinds := loading()
	if len(kinds) == 0 {
		return denied
	}
	quoted := make([]string, len(kinds))
	for i, k := range kinds {
		quoted[i] = strconv.Quote(k)
	}
	return []policies.Violation{{Detail: "the webhook is still loading " + strings.Join(quoted, ", ") +
		", installed moments ago: retry in a few seconds"}}
}
