// Package manifests tests the seed kustomization (manifests/) as Flux would
// apply it: every kustomization builds, the Flux Kustomizations are ordered
// and substituted as intended, every object passes the platform's own
// policies, and (end to end, PLATFORM_WEBHOOK_E2E=1) every object is accepted
// by a real kube-apiserver with the real CRDs in a server-side dry run.
package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository's top folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// manifestsDir is the seed's folder.
func manifestsDir() string { return filepath.Join(repoRoot(), "manifests") }

// The Flux side of the seed.
const (
	fluxNamespace     = "flux-system"
	configDataName    = "external-config-data"
	configDataFile    = "bootstrap/external-config-data.yaml" // under manifests/
	rootKustomization = "flux-system"                         // the Kustomization flux bootstrap writes (gotk-sync.yaml)
	rootCluster       = "clusters/example"                    // under manifests/
	kustomizeGroup    = "kustomize.toolkit.fluxcd.io"
	substituteKey     = "kustomize.toolkit.fluxcd.io/substitute" // "disabled" skips an object
)

// kustomizeBuild builds a kustomization folder as kustomize-controller does
// (kustomize's Go API, no plugins) and returns its objects in output order.
func kustomizeBuild(fs filesys.FileSystem, dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(fs, dir)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// kustomizationDirs lists every folder under manifests/ holding a
// kustomization.yaml, relative to manifests/, sorted.
func kustomizationDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	root := manifestsDir()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}

// configData is the ConfigMap external-config-data of the bootstrap contract:
// the variables and their sample values.
func configData(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(manifestsDir(), configDataFile))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string
		Kind       string
		Metadata   struct{ Name, Namespace string }
		Data       map[string]string
	}
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("%s: %v", configDataFile, err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != configDataName || cm.Metadata.Namespace != fluxNamespace {
		t.Fatalf("%s: want ConfigMap %s/%s, got %s %s/%s", configDataFile, fluxNamespace, configDataName, cm.Kind, cm.Metadata.Namespace, cm.Metadata.Name)
	}
	return cm.Data
}

// Applied is what one Flux Kustomization applies: its folder built, then
// substituted as its postBuild says.
type Applied struct {
	Kustomization *unstructured.Unstructured // the Flux Kustomization
	Path          string                     // spec.path, relative to the repository
	Objects       []*unstructured.Unstructured
}

// Name is the Flux Kustomization's namespace/name.
func (a Applied) Name() string {
	return a.Kustomization.GetNamespace() + "/" + a.Kustomization.GetName()
}

// Tree is the seed as Flux applies it, starting from the flux-system
// Kustomization of clusters/example and following every Flux Kustomization
// in flux-system that reads the flux-system GitRepository.
type Tree struct {
	Applied []Applied
	// Used counts the variables substituted, by name.
	Used map[string]int
	// External are Flux Kustomizations that read another source (a tenant's
	// repository): listed, not followed.
	External []*unstructured.Unstructured
}

// Objects is every object of the tree, in apply order (breadth first).
func (tr *Tree) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, a := range tr.Applied {
		out = append(out, a.Objects...)
	}
	return out
}

// Kustomizations is every Flux Kustomization of the tree that Flux follows,
// by name.
func (tr *Tree) Kustomizations() map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, a := range tr.Applied {
		out[a.Kustomization.GetName()] = a.Kustomization
	}
	return out
}

// fluxTree builds the seed as Flux would apply it, with vars as the content
// of external-config-data. Substitution is strict (see substitute).
func fluxTree(t *testing.T, vars map[string]string) *Tree {
	t.Helper()
	tr, err := buildTree(filesys.MakeFsOnDisk(), repoRoot(), vars)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func buildTree(fs filesys.FileSystem, repo string, vars map[string]string) (*Tree, error) {
	tr := &Tree{Used: map[string]int{}}
	// The root: what gotk-sync.yaml's Kustomization applies.
	rootObjs, err := kustomizeBuild(fs, filepath.Join(repo, "manifests", rootCluster))
	if err != nil {
		return nil, fmt.Errorf("build manifests/%s: %w", rootCluster, err)
	}
	var root *unstructured.Unstructured
	for _, o := range rootObjs {
		if isFluxKustomization(o) && o.GetNamespace() == fluxNamespace && o.GetName() == rootKustomization {
			root = o
		}
	}
	if root == nil {
		return nil, fmt.Errorf("manifests/%s has no Kustomization %s/%s", rootCluster, fluxNamespace, rootKustomization)
	}
	queue := []*unstructured.Unstructured{root}
	seen := map[string]bool{}
	for len(queue) > 0 {
		ks := queue[0]
		queue = queue[1:]
		name := ks.GetNamespace() + "/" + ks.GetName()
		if seen[name] {
			return nil, fmt.Errorf("Flux Kustomization %s is applied twice", name)
		}
		seen[name] = true
		path, _, _ := unstructured.NestedString(ks.Object, "spec", "path")
		objs, err := kustomizeBuild(fs, filepath.Join(repo, filepath.FromSlash(path)))
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s: build %s: %w", name, path, err)
		}
		vs, err := postBuildVars(ks, vars)
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s: %w", name, err)
		}
		if vs != nil {
			for i, o := range objs {
				if objs[i], err = substituteObject(o, vs, tr.Used); err != nil {
					return nil, fmt.Errorf("Kustomization %s: %s %s: %w", name, o.GetKind(), objectName(o), err)
				}
			}
		}
		if tns, _, _ := unstructured.NestedString(ks.Object, "spec", "targetNamespace"); tns != "" {
			return nil, fmt.Errorf("Kustomization %s: spec.targetNamespace is not simulated by this test", name)
		}
		tr.Applied = append(tr.Applied, Applied{Kustomization: ks, Path: strings.TrimPrefix(path, "./"), Objects: objs})
		for _, o := range objs {
			if !isFluxKustomization(o) || (o.GetNamespace() == ks.GetNamespace() && o.GetName() == ks.GetName()) {
				continue
			}
			src, _, _ := unstructured.NestedStringMap(o.Object, "spec", "sourceRef")
			srcNS := src["namespace"]
			if srcNS == "" {
				srcNS = o.GetNamespace()
			}
			if src["kind"] == "GitRepository" && src["name"] == "flux-system" && srcNS == fluxNamespace {
				queue = append(queue, o)
			} else {
				tr.External = append(tr.External, o)
			}
		}
	}
	return tr, nil
}

// postBuildVars are the variables a Flux Kustomization substitutes: nil when
// it has no postBuild. It may only read external-config-data (the one
// ConfigMap Terraform writes) and inline spec.postBuild.substitute.
func postBuildVars(ks *unstructured.Unstructured, vars map[string]string) (map[string]string, error) {
	pb, found, _ := unstructured.NestedMap(ks.Object, "spec", "postBuild")
	if !found {
		return nil, nil
	}
	out := map[string]string{}
	refs, _, _ := unstructured.NestedSlice(pb, "substituteFrom")
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		if ref["kind"] != "ConfigMap" || ref["name"] != configDataName {
			return nil, fmt.Errorf("postBuild.substituteFrom names %v %v; the seed's variables all come from ConfigMap %s", ref["kind"], ref["name"], configDataName)
		}
		for k, v := range vars {
			out[k] = v
		}
	}
	inline, _, _ := unstructured.NestedStringMap(pb, "substitute")
	for k, v := range inline {
		out[k] = v // inline values win, as in Flux
	}
	return out, nil
}

// substituteObject substitutes an object's YAML as kustomize-controller does
// (per object, unless it opts out with the substitute: disabled annotation or
// label) and decodes it again.
func substituteObject(o *unstructured.Unstructured, vars map[string]string, used map[string]int) (*unstructured.Unstructured, error) {
	if o.GetAnnotations()[substituteKey] == "disabled" || o.GetLabels()[substituteKey] == "disabled" {
		return o, nil
	}
	raw, err := yaml.Marshal(o.Object)
	if err != nil {
		return nil, err
	}
	out, err := substitute(string(raw), vars, used)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("after substitution: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

var varName = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// substitute expands variables in s the way Flux's post-build substitution
// (fluxcd/pkg/envsubst, a fork of drone/envsubst) does for the forms the seed
// uses, and is stricter than Flux where Flux would quietly do the wrong thing:
//
//   - ${NAME} is the value of NAME; an unset NAME is an error (Flux, unless
//     strict, would substitute an empty string).
//   - ${NAME:=word} and ${NAME:-word}: word when NAME is unset or empty;
//     ${NAME=word} and ${NAME-word}: word when NAME is unset.
//   - $$ is a literal $ (so $${NAME} stays ${NAME}); a $ not followed by { or
//     $ is kept as it is (shell variables in scripts: $NAME, "$NAME").
//   - any other ${...} form (substrings, replacement, case) is an error: the
//     seed does not use them, and a typo would otherwise pass unnoticed.
//
// used counts the variables read.
func substitute(s string, vars map[string]string, used map[string]int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: missing closing brace", excerpt(s[i:]))
		}
		expr := s[i+2 : i+end]
		val, err := expand(expr, vars, used)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		i += end + 1
	}
	return b.String(), nil
}

// expand evaluates the inside of one ${...}.
func expand(expr string, vars map[string]string, used map[string]int) (string, error) {
	name, op, word := expr, "", ""
	if j := strings.IndexAny(expr, ":=-"); j >= 0 {
		name = expr[:j]
		rest := expr[j:]
		switch {
		case strings.HasPrefix(rest, ":="), strings.HasPrefix(rest, ":-"):
			op, word = rest[:2], rest[2:]
		case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "-"):
			op, word = rest[:1], rest[1:]
		default:
			return "", fmt.Errorf("${%s}: only ${NAME}, ${NAME:=default} and ${NAME:-default} are used in the seed", expr)
		}
	}
	if !varName.MatchString(name) {
		return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and _, not starting with a digit)", expr, name)
	}
	used[name]++
	v, set := vars[name]
	switch op {
	case "":
		if !set {
			return "", fmt.Errorf("${%s}: variable %s is not in %s", expr, name, configDataName)
		}
		return v, nil
	case ":=", ":-":
		if v == "" {
			return word, nil
		}
		return v, nil
	default: // "=", "-"
		if !set {
			return word, nil
		}
		return v, nil
	}
}

func excerpt(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func isFluxKustomization(o *unstructured.Unstructured) bool {
	return o.GroupVersionKind().Group == kustomizeGroup && o.GetKind() == "Kustomization"
}

// objectName is namespace/name, or name for cluster-scoped objects.
func objectName(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// describe names an object for messages: "HelmRelease flux-system/cert-manager".
func describe(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + objectName(o)
}
