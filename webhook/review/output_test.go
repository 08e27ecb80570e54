package review

import (
	"bytes"
	"testing"
)

func TestWriteGitHub(t *testing.T) {
	entries := []Entry{
		{Kind: "Pod", Namespace: "a", Name: "web", Allowed: false, Message: "[image-registry] 50% bad\nsecond line", Source: "apps/web.yaml:12"},
		{Kind: "Pod", Namespace: "a", Name: "list", Allowed: true, Warnings: []string{"[image-rewrite] would rewrite"}, Source: "apps/list.yaml:3 (item 1)"},
		{Kind: "Deployment", Namespace: "b", Name: "api", Allowed: true, Source: "apps (kustomize build)"},
		{Kind: "ConfigMap", Namespace: "c", Name: "x", Allowed: false, Message: "no", Source: "<stdin>:4"},
		{Kind: "HelmRelease", Namespace: "d", Name: "r,1", Allowed: false, Message: "m", Source: "Kustomization flux-system/apps: apps/hr.yaml"},
	}
	var out bytes.Buffer
	if err := WriteGitHub(&out, entries); err != nil {
		t.Fatal(err)
	}
	want := "::error file=apps/web.yaml,line=12,title=Pod a/web::[image-registry] 50%25 bad%0Asecond line\n" +
		"::warning file=apps/list.yaml,line=3,title=Pod a/list::[image-rewrite] would rewrite\n" +
		"::error title=ConfigMap c/x::no\n" +
		"::error file=apps/hr.yaml,title=HelmRelease d/r%2C1::m\n" +
		"review: 5 objects, 3 denied, 1 with warnings\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
