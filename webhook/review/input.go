package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Document is one object read from a file, with where it came from.
type Document struct {
	Source string // "file:line"
	Object *unstructured.Unstructured
	// At is the repository file and line a CI annotation points at when
	// Source is not one ("FILE:LINE"): the HelmRelease of a chart's object.
	At string
}

// Read reads every object of the given paths in order: files, folders
// (walked in lexical order, *.yaml, *.yml and *.json only) and "-" for
// standard input. Each file may hold several YAML documents or JSON values;
// a List's items are read as objects. Errors name the file and the line.
//
// A folder holding a kustomization file (kustomization.yaml, .yml, or
// Kustomization) is built with kustomize as `kubectl kustomize` builds it,
// and its output read instead of its files.
//
// A file found by walking a folder whose first document is not a Kubernetes
// object (a Helm chart's Chart.yaml or values.yaml, a kustomize patch: GitOps
// repositories hold all of them) is skipped and named in skipped, and so is
// a kustomization file of a subfolder (kustomize's instructions, not an
// object); named on the command line, such a file is an error.
func Read(paths []string, stdin io.Reader) (docs []Document, skipped []Skipped, err error) {
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, nil, fmt.Errorf("read standard input: %w", err)
			}
			d, err := parse("<stdin>", data)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, d...)
			continue
		}
		if isKustomizeDir(p) {
			d, err := BuildKustomizeDir(p)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, d...)
			continue
		}
		files, walked, err := expand(p)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s", f, plainIOError(err))
			}
			if walked && isKustomizationFile(f) {
				skipped = append(skipped, Skipped{File: f, Why: "a kustomization file (review its folder to build it)"})
				continue
			}
			if walked && !looksLikeManifest(data) {
				skipped = append(skipped, Skipped{File: f, Why: "not a Kubernetes manifest (its first document has no kind)"})
				continue
			}
			d, err := parse(f, data)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, skipped, nil
}

// Skipped is a file a folder walk left out, and why.
type Skipped struct {
	File, Why string
}

// looksLikeManifest says whether the first document of a file is a mapping
// with a kind (Kubernetes objects and Lists are; Helm values, Chart.yaml and
// JSON 6902 patch lists are not). A file that does not parse counts as a
// manifest, so its error is reported.
func looksLikeManifest(data []byte) bool {
	var first struct {
		Kind any `yaml:"kind"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); err != nil {
			return !errors.Is(err, io.EOF)
		}
		if len(node.Content) == 0 || (node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null") {
			continue
		}
		if node.Content[0].Kind != yaml.MappingNode {
			return false
		}
		if err := node.Decode(&first); err != nil {
			return true
		}
		return first.Kind != nil
	}
}

// expand lists the files of a path; walked is true for a folder.
func expand(p string) (files []string, walked bool, err error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %s", p, plainIOError(err))
	}
	if !info.IsDir() {
		return []string{p}, false, nil
	}
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("%s: %s", p, plainIOError(err))
	}
	sort.Strings(files)
	return files, true, nil
}

func plainIOError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parse splits a file into objects. YAML is a superset of JSON, so one
// decoder reads both and knows the line of each document.
func parse(name string, data []byte) ([]Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, syntaxError(name, err)
		}
		if len(node.Content) == 0 || (node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null") {
			continue // empty document, e.g. after a trailing "---"
		}
		line := node.Content[0].Line
		where := fmt.Sprintf("%s:%d", name, line)
		var v any
		if err := node.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %s", where, yamlError(err))
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected a Kubernetes object (a mapping with apiVersion and kind)", where)
		}
		js, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", where, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %s", where, objectError(err))
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s: %s", where, objectError(err))
			}
			for i := range list.Items {
				docs = append(docs, Document{Source: fmt.Sprintf("%s (item %d)", where, i), Object: &list.Items[i]})
			}
			continue
		}
		if u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: apiVersion is missing", where)
		}
		docs = append(docs, Document{Source: where, Object: u})
	}
}

// yamlLine is yaml.v3's "yaml: line 12: ..." prefix.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlError says a YAML error without the parser's prefix. Callers prefix
// "file: "; an error that carries a line becomes "line N: ..." which
// wherePrefix turns into "file:N: ".
func yamlError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// syntaxError names the file and the line of a YAML error: "file:12: msg".
func syntaxError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("%s: %s", name, yamlError(err))
}

func objectError(err error) string {
	s := err.Error()
	if strings.Contains(s, "Object 'Kind' is missing") {
		return "kind is missing"
	}
	return s
}
