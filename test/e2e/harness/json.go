package harness

import kjson "sigs.k8s.io/json"

// jsonUnmarshalStrict fails on fields the Go types do not know, so a typo in
// the shipped manifests fails the tests instead of being dropped.
func jsonUnmarshalStrict(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return strict[0]
	}
	return nil
}
