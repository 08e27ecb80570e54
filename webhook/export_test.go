package webhook

// TypedPatch is typedPatch, for the tests of package webhook_test.
var TypedPatch = typedPatch
