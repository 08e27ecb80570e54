package report

import (
	"reflect"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct{ line, policy, result, msg string }{
		{`[image-registry] would deny: spec.containers[0].image: bad`, "image-registry", Deny, "spec.containers[0].image: bad"},
		{`[image-rewrite] would rewrite "a" to "b"`, "image-rewrite", Mutate, `would rewrite "a" to "b"`},
		{`[job-proxy] would wrap container "c" to wait for istio-proxy and stop it on exit`, "job-proxy", Mutate, `would wrap container "c" to wait for istio-proxy and stop it on exit`},
		{`[flux-placement] existing violation: x`, "flux-placement", Warn, "existing violation: x"},
		{`(3 more warnings)`, "", "", ""},
	} {
		p, r, m := parseLine(tc.line)
		if p != tc.policy || r != tc.result || m != tc.msg {
			t.Errorf("parseLine(%q) = %q %q %q", tc.line, p, r, m)
		}
	}
}

func TestSummary(t *testing.T) {
	fs := []Finding{
		{Policy: "image-registry", Kind: "ReplicaSet", Name: "api-1", Owner: "Deployment/api", Pods: 2, Result: Deny},
		{Policy: "image-rewrite", Kind: "ReplicaSet", Name: "api-1", Owner: "Deployment/api", Pods: 2, Result: Mutate},
		{Policy: "image-rewrite", Kind: "ReplicaSet", Name: "api-1", Owner: "Deployment/api", Pods: 2, Result: Mutate}, // a second image
		{Policy: "image-registry", Kind: "Pod", Name: "debug", Result: Deny},
		{Policy: "image-rewrite", Kind: "Pod", Name: "debug", Result: Mutate},
		{Policy: "flux-placement", Kind: "HelmRelease", Name: "redis", Result: Deny},
		{Policy: "job-proxy", Kind: "Job", Name: "migrate", Owner: "Job/migrate", Pods: 1, Result: Mutate},
	}
	want := "tenant-b (audit): under enforce 3 objects would be denied (image-registry 2, flux-placement 1), " +
		"3 pods would get their images rewritten at their next restart, 1 Job pod would be changed by job-proxy at its next start"
	if got := Summary("tenant-b", "audit", fs); got != want {
		t.Errorf("Summary\n got %s\nwant %s", got, want)
	}
	if got, want := Summary("tenant-a", "enforce", nil), "tenant-a (enforce): nothing would be denied or changed"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if got, want := object(fs[0]), "ReplicaSet/api-1 of Deployment/api (2 pods)"; got != want {
		t.Errorf("object = %q, want %q", got, want)
	}
	if got, want := object(Finding{Kind: "StatefulSet", Name: "db", Owner: "StatefulSet/db", Pods: 1}), "StatefulSet/db (1 pod)"; got != want {
		t.Errorf("object = %q, want %q", got, want)
	}
}

func TestToReport(t *testing.T) {
	rep := ToReport("tenant-b", []Finding{
		{Policy: "image-registry", Kind: "ReplicaSet", Namespace: "tenant-b", Name: "api-1", Owner: "Deployment/api", Pods: 2, Mode: "audit", Result: Deny, Message: "m1"},
		{Policy: "image-rewrite", Kind: "Pod", Namespace: "tenant-b", Name: "debug", Mode: "audit", Result: Mutate, Message: "m2"},
	})
	if rep.Name != "platform-webhook" || rep.Namespace != "tenant-b" || rep.Source != "platform-webhook" ||
		rep.Summary.Fail != 1 || rep.Summary.Warn != 1 || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Results[0]
	if r.Result != "fail" || r.Severity != "high" || !r.Scored || r.Description != "m1" || r.Subjects[0].Name != "api-1" ||
		!reflect.DeepEqual(r.Properties, map[string]string{"mode": "audit", "result": "deny", "owner": "Deployment/api", "pods": "2"}) {
		t.Errorf("first result %+v", r)
	}
	if r := rep.Results[1]; r.Result != "warn" || r.Scored || r.Properties["owner"] != "" {
		t.Errorf("second result %+v", r)
	}
}
