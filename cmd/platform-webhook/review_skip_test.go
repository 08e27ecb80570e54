package main

import (
	"path/filepath"
	"testing"
)

// A GitOps repository holds Helm charts beside manifests: walking a folder
// skips files that are not Kubernetes objects, and says so; naming such a
// file is still an error.
func TestReviewSkipsNonManifestsInFolders(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
	values := writeFile(t, dir, "chart/values.yaml", "image:\n  repository: nginx\n  tag: \"1.27\"\n")
	writeFile(t, dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: "+
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27\n")

	code, stdout, stderr := runReview(t, "", "-o", "json", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	wantErr := "review: skipped " + filepath.Join(dir, "chart/Chart.yaml") + ": not a Kubernetes manifest (its first document has no kind)\n" +
		"review: skipped " + filepath.Join(dir, "chart/values.yaml") + ": not a Kubernetes manifest (its first document has no kind)\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}
	if entries := decodeEntries(t, stdout); len(entries) != 1 || entries[0]["name"] != "web" {
		t.Errorf("entries: %v", entries)
	}

	code, _, stderr = runReview(t, "", values)
	if want := "review: " + values + ":1: not a Kubernetes object: kind is missing\n"; code != 2 || stderr != want {
		t.Errorf("named values.yaml: exit %d, stderr %q, want exit 2 and %q", code, stderr, want)
	}
}
