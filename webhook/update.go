package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/policies"
)

// The update rules every validating policy shares:
//
//   - An UPDATE of an object being deleted (the old object has
//     metadata.deletionTimestamp) is allowed without review: its controllers
//     must be able to remove their finalizers from an object that breaks a
//     rule, or it never goes away. (The apiserver never lets an update set or
//     change deletionTimestamp, so only objects already being deleted pass.)
//   - An UPDATE that changes nothing but metadata and status
//     (req.MetadataOnly: labels, annotations, finalizers, owner references,
//     managed fields) is never denied for a violation the old object had
//     already: it goes back as a warning "[policy] existing violation: ...",
//     in enforce and audit alike. `kubectl label`, `flux reconcile` (an
//     annotation) and the controllers' finalizers keep working on objects
//     that predate enforcement. A violation the old object did not have is
//     judged as usual.
//   - Any other UPDATE must leave no violation, as a CREATE: a tenant cannot
//     go on changing a release that breaks a rule, only fix it (or delete it).
//
// What is about a policy's own fields (which images of a pod an update brings
// in) the policy decides itself, marking violations Existing.

// beingDeleted says whether req is an UPDATE of an object being deleted.
func beingDeleted[T Object](req policies.Request) (string, bool) {
	if req.Operation != "UPDATE" {
		return "", false
	}
	old, ok := policies.Old[T](req)
	if !ok {
		return "", false
	}
	m, err := meta.Accessor(old)
	if err != nil || m.GetDeletionTimestamp() == nil {
		return "", false
	}
	return "the object is being deleted", true
}

// existingOnMetadataUpdate marks as Existing the violations that the old
// object of a metadata-only update had already.
func existingOnMetadataUpdate[T Object](req policies.Request, v policies.Validator[T], violations []policies.Violation) []policies.Violation {
	if !req.MetadataOnly || len(violations) == 0 {
		return violations
	}
	old, ok := policies.Old[T](req)
	if !ok {
		return violations
	}
	before := req
	before.OldObject, before.MetadataOnly = nil, false
	had := map[policies.Violation]bool{}
	for _, o := range v.Validate(before, old) {
		o.Existing = false
		had[o] = true
	}
	for i := range violations {
		plain := violations[i]
		plain.Existing = false
		if had[plain] {
			violations[i].Existing = true
		}
	}
	return violations
}

func splitExisting(violations []policies.Violation) (denied, existing []policies.Violation) {
	for _, v := range violations {
		if v.Existing {
			existing = append(existing, v)
		} else {
			denied = append(denied, v)
		}
	}
	return denied, existing
}

// existing reports violations an update left as they were: warnings in every
// mode, never a denial.
func (d *Decision) existing(ctx context.Context, policy string, mode Mode, violations []policies.Violation) {
	for _, v := range violations {
		d.Warnings = append(d.Warnings, "["+policy+"] existing violation: "+v.String())
	}
	logf.FromContext(ctx).Info("existing violation", "policy", policy, "mode", mode, "decision", "warn", "violations", len(violations))
}

// MetadataOnly reports whether an update from old to obj (raw JSON, as the
// apiserver sends them) changes nothing but metadata and status. Raw, not
// decoded: a field the webhook's Go types do not know (a newer CRD) is a
// change too. Undecodable input is a change.
func MetadataOnly(old, obj []byte) bool {
	if len(old) == 0 || len(obj) == 0 {
		return false
	}
	if bytes.Equal(old, obj) {
		return true
	}
	var a, b map[string]any
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(obj, &b) != nil {
		return false
	}
	for _, ignored := range []string{"metadata", "status"} {
		delete(a, ignored)
		delete(b, ignored)
	}
	return reflect.DeepEqual(a, b)
}
