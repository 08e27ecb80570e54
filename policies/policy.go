// Package policies holds the platform's admission policies: pure functions over
// typed objects, their configuration and read-only context. No client, no I/O,
// no clock, no globals: the same code serves the live server, the offline
// review command and the tests.
//
// A policy never knows its mode. The webhook package turns what a policy
// returns into a patch or a denial (enforce), or into warnings and an audit
// annotation (audit).
package policies

import "fmt"

// Request is what a policy knows about the admission request besides the
// object itself. Look-ups (namespace labels) come from informer caches in the
// server and from --context files in review.
type Request struct {
	Operation       string // CREATE, UPDATE, DELETE or CONNECT
	SubResource     string // "" or e.g. "ephemeralcontainers"
	Namespace       string
	Name            string
	NamespaceLabels map[string]string
}

// Violation is one reason a validating policy rejects an object.
type Violation struct {
	// Field is the path of the offending field, e.g. "spec.containers[0].image".
	Field string
	// Detail says what is wrong and, in parentheses, what would be allowed.
	Detail string
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

// Validator checks an object of type T and returns the violations, or none.
type Validator[T any] interface {
	Name() string
	Validate(req Request, obj T) []Violation
}
