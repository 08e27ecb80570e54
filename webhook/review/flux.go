package review

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/kustomize/api/resource"
	sigsyaml "sigs.k8s.io/yaml"
)

// FluxOptions says which Flux repository review --flux follows.
type FluxOptions struct {
	// Dir is the folder a cluster's Flux applies (flux bootstrap --path).
	Dir string
	// RepoRoot is the repository's top folder, against which every
	// Kustomization's spec.path is read; "" is the git top level of Dir.
	RepoRoot string
	// Vars are ConfigMap or Secret manifest files: what the cluster holds for
	// postBuild.substituteFrom but the repository does not.
	Vars []string
}

// FluxBuild is what Flux would apply: every object, sourced
// "Kustomization NAMESPACE/NAME: FILE", and the Kustomizations not followed.
type FluxBuild struct {
	Docs []Document
	// NotFollowed names each Kustomization whose source is another
	// repository, with that source: its objects cannot be seen from here.
	NotFollowed []string
}

// Field paths and names of the Flux Kustomization (kustomize.toolkit.fluxcd.io/v1).
const (
	fluxKustomizationAPIGroup = "kustomize.toolkit.fluxcd.io"
	originAnnotation          = "config.kubernetes.io/origin"
)

// FollowFlux builds a Flux repository as kustomize-controller applies it,
// starting from opts.Dir, with Flux's own code (github.com/fluxcd/pkg/kustomize,
// the package kustomize-controller builds with):
//
//   - every Kustomization found whose sourceRef is the repository's own
//     source (the one the Kustomization applying Dir uses, flux bootstrap's
//     GitRepository flux-system/flux-system when none is found) is built from
//     its spec.path: Generator writes the kustomization.yaml the controller
//     would (targetNamespace, namePrefix/Suffix, commonMetadata, patches,
//     images, components), SecureBuild builds it within the repository, and
//     the Kustomizations that build yields are followed in turn;
//   - where spec.postBuild is set, SubstituteVariables substitutes with
//     Flux's rules, strictly: a variable defined nowhere is an error naming
//     it, the Kustomization and the file. substituteFrom reads ConfigMaps and
//     Secrets built so far and those of opts.Vars.
//
// The build runs on a copy of the repository (Generator writes files), as
// the controller runs on an extracted artifact.
func FollowFlux(ctx context.Context, opts FluxOptions) (*FluxBuild, error) {
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("--flux %s: not a folder", opts.Dir)
	}
	root := opts.RepoRoot
	if root == "" {
		out, err := exec.Command("git", "-C", dir, "rev-parse", "--show-toplevel").Output()
		if err != nil {
			return nil, fmt.Errorf("--flux %s: not in a git repository (pass --repo-root, the folder spec.path is relative to)", opts.Dir)
		}
		root = strings.TrimSpace(string(out))
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("--flux %s is not inside the repository %s (--repo-root)", opts.Dir, root)
	}

	f := &follower{root: root, store: map[string]*unstructured.Unstructured{}}
	for _, v := range opts.Vars {
		docs, _, err := Read([]string{v}, nil)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if !isVarsObject(d.Object) {
				return nil, fmt.Errorf("--vars %s: %s is a %s, want a ConfigMap or a Secret", v, d.Source, d.Object.GetKind())
			}
			f.remember(d.Object)
		}
	}
	if f.copy, err = os.MkdirTemp("", "platform-webhook-flux-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(f.copy)
	if err := copyTree(root, f.copy); err != nil {
		return nil, fmt.Errorf("copy the repository: %w", err)
	}

	// The Kustomization that applies Dir: flux bootstrap's flux-system. Built
	// first as a bare one, then again with its own settings if it has any.
	bootstrap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fluxKustomizationAPIGroup + "/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "flux-system", "namespace": "flux-system"},
		"spec": map[string]any{"path": "./" + filepath.ToSlash(rel),
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}},
	}}
	docs, err := f.build(ctx, bootstrap)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if isFluxKustomization(d.Object) && cleanPath(specPath(d.Object)) == cleanPath(rel) {
			bootstrap = d.Object
			if docs, err = f.build(ctx, bootstrap); err != nil {
				return nil, err
			}
			break
		}
	}
	own := sourceOf(bootstrap)
	result := &FluxBuild{}
	seen := map[string]bool{key(bootstrap): true}
	queue := docs
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		result.Docs = append(result.Docs, d)
		k := d.Object
		if !isFluxKustomization(k) || seen[key(k)] {
			continue
		}
		seen[key(k)] = true
		if src := sourceOf(k); src != own {
			result.NotFollowed = append(result.NotFollowed,
				fmt.Sprintf("Kustomization %s (source %s: another repository)", key(k), src))
			continue
		}
		built, err := f.build(ctx, k)
		if err != nil {
			return nil, err
		}
		queue = append(queue, built...)
	}
	return result, nil
}

// follower holds the repository copy and the ConfigMaps and Secrets seen.
type follower struct {
	root, copy string
	store      map[string]*unstructured.Unstructured // "Kind/namespace/name"
}

func (f *follower) remember(o *unstructured.Unstructured) {
	ns := o.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	f.store[o.GetKind()+"/"+ns+"/"+o.GetName()] = o
}

// build builds one Kustomization's spec.path and substitutes its variables.
func (f *follower) build(ctx context.Context, k *unstructured.Unstructured) ([]Document, error) {
	who := "Kustomization " + key(k)
	path := cleanPath(specPath(k))
	if path == ".." || strings.HasPrefix(path, "../") {
		return nil, fmt.Errorf("%s: spec.path %q leaves the repository", who, specPath(k))
	}
	dir := filepath.Join(f.copy, filepath.FromSlash(path))
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("%s: spec.path %q is not a folder of the repository %s", who, specPath(k), f.root)
	}
	// Origin annotations say which file each object came from.
	gen := k.DeepCopy()
	_ = unstructured.SetNestedStringSlice(gen.Object, []string{"originAnnotations"}, "spec", "buildMetadata")
	action, err := fluxkustomize.NewGenerator(f.copy, *gen).WriteFile(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", who, oneLine(err.Error()))
	}
	res, err := fluxkustomize.SecureBuild(f.copy, dir, false)
	if cerr := fluxkustomize.CleanDirectory(dir, action); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize build of %s failed: %s", who, path, oneLine(strings.ReplaceAll(err.Error(), f.copy, f.root)))
	}

	_, postBuild, _ := unstructured.NestedMap(k.Object, "spec", "postBuild")
	var reader client.Client
	if postBuild {
		if reader, err = f.client(); err != nil {
			return nil, err
		}
		// What SubstituteVariables loads for each object: checked once here,
		// so a missing ConfigMap or Secret is said once, for the Kustomization.
		if _, err := fluxkustomize.LoadVariables(ctx, reader, *k); err != nil {
			return nil, fmt.Errorf("%s: %s", who, substituteError(err))
		}
	}
	var docs []Document
	for _, r := range res.Resources() {
		file := originFile(r, path)
		if postBuild {
			out, err := fluxkustomize.SubstituteVariables(ctx, reader, *k, r, fluxkustomize.SubstituteWithStrict(true))
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %s", who, file, substituteError(err))
			}
			if out != nil { // nil: substitution disabled on the object
				r = out
			}
		}
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %s", who, file, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: %s: %s", who, file, objectError(err))
		}
		if ann := u.GetAnnotations(); ann != nil {
			delete(ann, originAnnotation)
			if len(ann) == 0 {
				ann = nil
			}
			u.SetAnnotations(ann)
		}
		if isVarsObject(u) {
			f.remember(u)
		}
		docs = append(docs, Document{Source: who + ": " + file, Object: u})
	}
	return docs, nil
}

// client is an in-memory client over the ConfigMaps and Secrets seen so
// far: what Flux's LoadVariables reads substituteFrom through. Secrets'
// stringData counts as data, as the apiserver stores it.
func (f *follower) client() (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(f.store))
	for k := range f.store {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var objs []client.Object
	for _, k := range keys {
		o := f.store[k]
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		switch o.GetKind() {
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm); err != nil {
				return nil, fmt.Errorf("ConfigMap %s/%s: %s", ns, o.GetName(), err)
			}
			cm.Namespace = ns
			objs = append(objs, cm)
		case "Secret":
			sec := &corev1.Secret{}
			if err := secretFrom(o, sec); err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %s", ns, o.GetName(), err)
			}
			sec.Namespace = ns
			objs = append(objs, sec)
		}
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(), nil
}

// secretFrom decodes a Secret manifest, data base64 as written and
// stringData merged in.
func secretFrom(o *unstructured.Unstructured, sec *corev1.Secret) error {
	sec.Name = o.GetName()
	sec.Data = map[string][]byte{}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return fmt.Errorf("data.%s is not base64", k)
		}
		sec.Data[k] = b
	}
	stringData, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
	for k, v := range stringData {
		sec.Data[k] = []byte(v)
	}
	return nil
}

var (
	varNotSet   = regexp.MustCompile(`variable not set \(strict mode\): "([^"]*)"`)
	varsMissing = regexp.MustCompile(`substitute from '(ConfigMap|Secret)/([^']*)' error: .*not found`)
)

// substituteError says a substitution error for the reader: a variable
// defined nowhere, or a substituteFrom object that is nowhere, by name.
func substituteError(err error) string {
	if m := varNotSet.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("variable %q is not defined (in postBuild.substitute, a postBuild.substituteFrom ConfigMap or Secret, or --vars)", m[1])
	}
	if m := varsMissing.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("postBuild.substituteFrom: %s %q is neither in the repository nor given with --vars (mark it optional: true if the cluster may lack it)", m[1], m[2])
	}
	return oneLine(err.Error())
}

// originFile is the repository file an object came from, by kustomize's
// origin annotation (its path is relative to the folder built), or the
// folder when kustomize does not say.
func originFile(r *resource.Resource, path string) string {
	origin := r.GetAnnotations()[originAnnotation]
	var o struct {
		Path string `json:"path"`
	}
	if origin == "" || sigsyaml.Unmarshal([]byte(origin), &o) != nil || o.Path == "" {
		return path
	}
	return cleanPath(filepath.ToSlash(filepath.Join(path, o.Path)))
}

func isFluxKustomization(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == fluxKustomizationAPIGroup && gvk.Kind == "Kustomization"
}

func isVarsObject(o *unstructured.Unstructured) bool {
	return o.GetAPIVersion() == "v1" && (o.GetKind() == "ConfigMap" || o.GetKind() == "Secret")
}

func key(o *unstructured.Unstructured) string {
	ns := o.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + o.GetName()
}

func specPath(k *unstructured.Unstructured) string {
	p, _, _ := unstructured.NestedString(k.Object, "spec", "path")
	return p
}

// sourceOf is "Kind namespace/name" of a Kustomization's sourceRef (its
// namespace defaults to the Kustomization's).
func sourceOf(k *unstructured.Unstructured) string {
	kind, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "kind")
	name, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "name")
	ns, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "namespace")
	if ns == "" {
		ns = k.GetNamespace()
	}
	if ns == "" {
		ns = "default"
	}
	return kind + " " + ns + "/" + name
}

// cleanPath is a spec.path as a slash path relative to the repository
// ("./clusters/x/" and "clusters/x" are the same).
func cleanPath(p string) string {
	c := filepath.ToSlash(filepath.Clean(filepath.FromSlash(strings.TrimPrefix(p, "/"))))
	if c == "" {
		return "."
	}
	return c
}

// copyTree copies the regular files and folders of src into dst, leaving
// out .git.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil // symlinks and devices: kustomize-controller drops them too
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
