package review

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// isKustomizeDir says whether p is a folder holding a kustomization file.
func isKustomizeDir(p string) bool {
	info, err := os.Stat(p)
	if err != nil || !info.IsDir() {
		return false
	}
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Stat(filepath.Join(p, name)); err == nil {
			return true
		}
	}
	return false
}

// isKustomizationFile says whether f is named as kustomize names its files.
func isKustomizationFile(f string) bool {
	base := filepath.Base(f)
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if base == name {
			return true
		}
	}
	return false
}

// BuildKustomizeDir builds dir as `kubectl kustomize dir` does (krusty with
// kustomize's default options, the kustomize/api version kubectl bundles:
// go.mod pins the one of k8s.io/kubernetes' kubectl) and returns its
// objects, each sourced "DIR (kustomize build)". A build error is one line
// naming the folder and kustomize's reason.
func BuildKustomizeDir(dir string) ([]Document, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize build failed: %s", dir, oneLine(err.Error()))
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize build failed: %s", dir, oneLine(err.Error()))
	}
	docs, err := parse(dir+" (kustomize build)", out)
	if err != nil {
		return nil, err
	}
	// A line of kustomize's output means nothing to the reader: the folder does.
	for i := range docs {
		docs[i].Source = dir + " (kustomize build)"
	}
	return docs, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
