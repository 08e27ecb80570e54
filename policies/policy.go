// Package policies holds the platform's admission policies: pure functions over
// typed objects, their configuration and read-only context. No client, no I/O,
// no clock, no globals: the same code serves the live server, the offline
// review command and the tests.
//
// A policy never knows its mode. The webhook package turns what a policy
// returns into a patch or a denial (enforce), or into warnings and an audit
// annotation (audit).
package policies

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
)

// Request is what a policy knows about the admission request besides the
// object itself. Look-ups (namespace labels) come from informer caches in the
// server and from --context files in review.
type Request struct {
	Operation       string // CREATE, UPDATE, DELETE or CONNECT
	SubResource     string // "" or e.g. "ephemeralcontainers"
	Namespace       string
	Name            string
	NamespaceLabels map[string]string
	// Gateways are the cluster's Istio Gateways and the VirtualServices bound
	// to them (gateway-hosts); nil when no Gateway is known.
	Gateways *GatewayIndex
	// GatewayAPI are the cluster's Gateway API Gateways (gateway-hosts on
	// HTTPRoutes, GRPCRoutes, TLSRoutes); nil when none is known.
	GatewayAPI *GatewayAPIIndex
	// Istio is what the cluster says about Istio's injector (its webhooks'
	// selectors, the Nodes' kubelet versions) for job-proxy; nil when
	// nothing is known (then the istiod chart's defaults are assumed).
	Istio *IstioCluster

	// EnforcedMutators are the mutating policies of the object's chain in
	// enforce mode for this request, set for validators: what they find
	// unchanged, an enforced mutator should have changed (image-registry
	// tells image-rewrite's failed-open call from a tenant's image so).
	EnforcedMutators []string

	// OldObject is the object before an UPDATE, of the same Go type as the
	// object under review; nil on CREATE (and in review, where every object
	// is a CREATE). A policy that judges an update by what it changes (which
	// images are new) reads it with Old.
	OldObject runtime.Object
	// MetadataOnly is set on an UPDATE that changes nothing but metadata
	// (labels, annotations, finalizers, owner references, managed fields) and
	// status. The webhook computes it from the request's raw objects, so a
	// field the Go types do not know counts as a change too. The chain, not
	// the policies, acts on it: violations the old object had already are
	// then reported, never denied.
	MetadataOnly bool
}

// Old returns req.OldObject as a T, and whether there is one.
func Old[T any](req Request) (T, bool) {
	old, ok := req.OldObject.(T)
	return old, ok
}

// Violation is one reason a validating policy rejects an object.
type Violation struct {
	// Field is the path of the offending field, e.g. "spec.containers[0].image".
	Field string
	// Detail says what is wrong and, in parentheses, what would be allowed.
	Detail string
	// Existing marks a violation the object had before the update and that
	// the update leaves as it was (an unmirrored image the update does not
	// touch). It is reported as "existing violation: ...", never denied: an
	// update must not be refused for what it did not change.
	Existing bool
}

func (v Violation) String() string {
	if v.Field == "" {
		return v.Detail
	}
	return v.Field + ": " + v.Detail
}

// Violationf builds a Violation with a formatted detail.
func Violationf(field, format string, args ...any) Violation {
	return Violation{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Mutator changes an object of type T in place. It returns one line per
// change, worded as an action ("rewrite \"nginx\" to \"...\""), which audit
// mode reports as "would rewrite ...". A mutator must be idempotent: run on
// its own output it changes nothing and returns nothing.
type Mutator[T any] interface {
	Name() string
	Mutate(req Request, obj T) []string
}

// Scoped is optionally implemented by a Mutator that changes only some
// fields of the object. Scope names them as JSON field paths from the
// object's root: members by their JSON names, dot-separated, "[*]" after an
// array for each of its elements ("metadata.annotations",
// "spec.containers[*].image"), "[+]" at the end after an array Mutate only
// appends to, creating it if need be ("spec.volumes[+]"). Mutate changes
// nothing else: it does not add or remove elements of an array it reaches
// through "[*]", nor change the elements an array named with "[+]" had
// (the whole array is named where it does: "spec.initContainers").
//
// The webhook then keeps only these fields before the mutators run and
// builds its patch from them, instead of copying and comparing the whole
// object (webhook/scopedpatch.go). A change outside the scope would be
// missing from the patch: the webhook's TestScopedPatchMatchesFullDiff runs
// every scoped mutator on every testdata pod against the full diff.
type Scoped interface {
	Scope() []string
}

// Refuser is optionally implemented by a Mutator that can meet an object it
// cannot change safely (job-proxy: a Job container with no command to wrap).
// The chain calls Refuse before Mutate: violations deny the object in
// enforce mode and come back as "would deny: ..." in audit mode; either way
// Mutate is then not called.
type Refuser[T any] interface {
	Refuse(req Request, obj T) []Violation
}

// Validator checks an object of type T and returns the violations, or none.
type Validator[T any] interface {
	Name() string
	Validate(req Request, obj T) []Violation
}

// Warner is optionally implemented by a Validator whose policy also reports
// what it allows but the user should know (a Gateway change that unbinds
// existing VirtualServices). The warnings go back to the client as they are,
// "[policy] " first, in every mode but off; they never deny.
type Warner[T any] interface {
	Warn(req Request, obj T) []string
}
