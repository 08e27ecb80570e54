package review

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/fluxcd/pkg/envsubst"
	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	securefs "github.com/fluxcd/pkg/kustomize/filesys"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	kustypes "sigs.k8s.io/kustomize/api/types"
	kfilesys "sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flux-infra/platform-webhook/webhook/review/charts"
)

// FluxOptions says which Flux repository review --flux follows.
type FluxOptions struct {
	// Dir is the folder a cluster's Flux applies (flux bootstrap --path).
	Dir string
	// RepoRoot is the repository's top folder, against which every
	// Kustomization's spec.path is read; "" is the git top level of Dir.
	RepoRoot string
	// Vars are ConfigMap or Secret manifest files: what the cluster holds for
	// postBuild.substituteFrom (and HelmReleases' valuesFrom) but the
	// repository does not.
	Vars []string
	// Charts, when set, renders the HelmReleases reached (see
	// renderHelmReleases); nil reviews them as objects only (--no-charts).
	Charts *ChartOptions
}

// FluxBuild is what Flux would apply: every object, sourced
// "Kustomization NAMESPACE/NAME: FILE", and the Kustomizations not followed.
type FluxBuild struct {
	Docs []Document
	// NotFollowed names each Kustomization whose source is another
	// repository, with that source, and each HelmRelease whose chart is in
	// one: their objects cannot be seen from here.
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
// Nothing is written to the repository: the kustomization.yaml Generator
// makes for a folder lives in memory, over the files on disk
// (fluxkustomize/filesys.MakeFsInMemory over MakeFsOnDiskSecure, confined to
// the repository as the controller is to its artifact).
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

	f := &follower{root: root, store: map[string]*unstructured.Unstructured{}, clients: map[string]client.Client{}}
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
	f.customOpenAPI = usesCustomOpenAPI(root)

	// The Kustomization that applies Dir: flux bootstrap's flux-system. Built
	// first as a bare one, then again with its own settings if it has any.
	bootstrap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fluxKustomizationAPIGroup + "/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "flux-system", "namespace": "flux-system"},
		"spec": map[string]any{"path": "./" + filepath.ToSlash(rel),
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}},
	}}
	// Objects nobody waits for are finished in the background (see build).
	f.jobs = make(chan func(), 64)
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Go(func() {
			for job := range f.jobs {
				job()
			}
		})
	}
	stopWorkers := sync.OnceFunc(func() {
		close(f.jobs)
		workers.Wait()
	})
	defer stopWorkers()

	first, err := f.build(ctx, bootstrap)
	if err != nil {
		return nil, err
	}
	for _, k := range first.kustomizations {
		if cleanPath(specPath(k)) == cleanPath(rel) {
			bootstrap = k
			if first, err = f.build(ctx, bootstrap); err != nil {
				return nil, err
			}
			break
		}
	}
	own := sourceOf(bootstrap)
	result := &FluxBuild{}
	seen := map[string]bool{key(bootstrap): true}
	builds := []*built{first}
	for next := 0; next < len(builds); next++ {
		for _, k := range builds[next].kustomizations {
			if seen[key(k)] {
				continue
			}
			seen[key(k)] = true
			if src := sourceOf(k); src != own {
				result.NotFollowed = append(result.NotFollowed,
					fmt.Sprintf("Kustomization %s (source %s: another repository)", key(k), src))
				continue
			}
			b, err := f.build(ctx, k)
			if err != nil {
				return nil, err
			}
			builds = append(builds, b)
		}
	}
	stopWorkers()
	for _, b := range builds {
		for i, err := range b.errs {
			if err != nil {
				return nil, err
			}
			result.Docs = append(result.Docs, b.docs[i])
		}
	}
	if opts.Charts != nil {
		chartOpts := *opts.Charts
		chartOpts.RepoRoot, chartOpts.OwnSource = root, own
		var vars []*unstructured.Unstructured
		for _, o := range f.store {
			vars = append(vars, o)
		}
		docs, notFollowed, err := renderHelmReleases(ctx, chartOpts, root, result.Docs, vars)
		if err != nil {
			return nil, err
		}
		result.Docs = docs
		result.NotFollowed = append(result.NotFollowed, notFollowed...)
	}
	return result, nil
}

// built is the objects of one Kustomization's build, in order; those
// finished in the background are there once the workers are done.
type built struct {
	docs []Document
	errs []error
	// kustomizations are the Flux Kustomizations among docs, finished at
	// once: the traversal reads them while the workers write the rest.
	kustomizations []*unstructured.Unstructured
}

// follower holds the repository copy and the ConfigMaps and Secrets seen.
type follower struct {
	root          string
	store         map[string]*unstructured.Unstructured // "Kind/namespace/name"
	customOpenAPI bool                                  // see kustomizeBuild
	clients       map[string]client.Client              // see client
	jobs          chan func()                           // the background finishing
}

func (f *follower) remember(o *unstructured.Unstructured) {
	ns := o.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	f.store[o.GetKind()+"/"+ns+"/"+o.GetName()] = o
}

// build builds one Kustomization's spec.path and substitutes its variables.
func (f *follower) build(ctx context.Context, k *unstructured.Unstructured) (*built, error) {
	who := "Kustomization " + key(k)
	path := cleanPath(specPath(k))
	if path == ".." || strings.HasPrefix(path, "../") {
		return nil, fmt.Errorf("%s: spec.path %q leaves the repository", who, specPath(k))
	}
	dir := filepath.Join(f.root, filepath.FromSlash(path))
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("%s: spec.path %q is not a folder of the repository %s", who, specPath(k), f.root)
	}
	// Origin annotations say which file each object came from.
	gen := k.DeepCopy()
	_ = unstructured.SetNestedStringSlice(gen.Object, []string{"originAnnotations"}, "spec", "buildMetadata")
	manifest, kfile, _, err := fluxkustomize.NewGenerator(f.root, *gen).GenerateManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", who, oneLine(err.Error()))
	}
	disk, err := securefs.MakeFsOnDiskSecure(f.root)
	if err != nil {
		return nil, err
	}
	overlay := securefs.MakeFsInMemory(disk)
	if err := overlay.WriteFile(kfile, manifest); err != nil {
		return nil, err
	}
	res, err := f.kustomizeBuild(overlay, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize build of %s failed: %s", who, path, oneLine(err.Error()))
	}

	_, postBuild, _ := unstructured.NestedMap(k.Object, "spec", "postBuild")
	var vars map[string]string
	if postBuild {
		reader, err := f.client(k)
		if err != nil {
			return nil, err
		}
		// What SubstituteVariables loads for every object, loaded once, so a
		// missing ConfigMap or Secret is said once, for the Kustomization.
		if vars, err = fluxkustomize.LoadVariables(ctx, reader, *k); err != nil {
			return nil, fmt.Errorf("%s: %s", who, substituteError(err))
		}
		inline, _, _ := unstructured.NestedStringMap(k.Object, "spec", "postBuild", "substitute")
		for name, v := range inline { // inline ones win, as in SubstituteVariables
			vars[name] = strings.ReplaceAll(v, "\n", "")
		}
		for name := range vars {
			if !varName.MatchString(name) {
				return nil, fmt.Errorf("%s: postBuild: '%s' var name is invalid, must match '%s'", who, name, varName)
			}
		}
	}
	// Each object is substituted and converted on its own. What the
	// traversal needs at once is finished here: Flux Kustomizations (to
	// follow) and ConfigMaps and Secrets (for the substituteFrom of the next
	// builds). Everything else goes to the background workers, so that it
	// is finished while the next Kustomization builds.
	resources := res.Resources()
	b := &built{docs: make([]Document, len(resources)), errs: make([]error, len(resources))}
	for i, r := range resources {
		gvk := r.GetGvk()
		if gvk.Group == fluxKustomizationAPIGroup && gvk.Kind == "Kustomization" ||
			gvk.Group == "" && (gvk.Kind == "ConfigMap" || gvk.Kind == "Secret") {
			if b.docs[i], b.errs[i] = finish(who, path, postBuild, vars, k, r); b.errs[i] != nil {
				return nil, b.errs[i]
			}
			if isVarsObject(b.docs[i].Object) {
				f.remember(b.docs[i].Object)
			} else {
				b.kustomizations = append(b.kustomizations, b.docs[i].Object)
			}
			continue
		}
		f.jobs <- func() { b.docs[i], b.errs[i] = finish(who, path, postBuild, vars, k, r) }
	}
	return b, nil
}

// finish substitutes one built object's variables (when the Kustomization
// has postBuild) and makes it a Document. The substitution is Flux's
// (SubstituteVariables and varSubstitution in fluxcd/pkg/kustomize's
// kustomize_varsub.go), taken apart so that each object is converted as
// little as it needs: the opt-out label or annotation, then, with any
// variable, the object's YAML (as res.AsYAML makes it: its JSON as YAML)
// through fluxcd/pkg/envsubst with the strict mapping (a variable not set
// is an error), then YAML to JSON. TestSubstituteAsFlux compares it with
// SubstituteVariables itself.
func finish(who, path string, postBuild bool, vars map[string]string, common *unstructured.Unstructured, r *resource.Resource) (Document, error) {
	file := originFile(r, path)
	js, err := r.MarshalJSON()
	if err != nil {
		return Document{}, fmt.Errorf("%s: %s: %s", who, file, err)
	}
	disabled := r.GetLabels()[substituteKey] == fluxkustomize.DisabledValue || r.GetAnnotations()[substituteKey] == fluxkustomize.DisabledValue
	// envsubst acts on "$" alone: an object without one comes out as it went in.
	if postBuild && len(vars) > 0 && !disabled && bytes.IndexByte(js, '$') >= 0 {
		y, err := sigsyaml.JSONToYAML(js)
		if err != nil {
			return Document{}, fmt.Errorf("%s: %s: %s", who, file, err)
		}
		out, err := envsubst.Eval(string(y), func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		})
		if err != nil {
			return Document{}, fmt.Errorf("%s: %s: %s", who, file, substituteError(err))
		}
		if js, err = sigsyaml.YAMLToJSON([]byte(out)); err != nil {
			return Document{}, fmt.Errorf("%s: %s: %s", who, file, oneLine(err.Error()))
		}
	}
	// Through JSON: unstructured holds int64 and float64, never the plain
	// ints of the resource's own map.
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return Document{}, fmt.Errorf("%s: %s: %s", who, file, objectError(err))
	}
	if ann := u.GetAnnotations(); ann != nil {
		delete(ann, originAnnotation)
		if len(ann) == 0 {
			ann = nil
		}
		u.SetAnnotations(ann)
	}
	setCommonMetadata(u, common)
	return Document{Source: who + ": " + file, Object: u}, nil
}

// setCommonMetadata adds a Kustomization's spec.commonMetadata labels and
// annotations to an object, over any it has, as kustomize-controller does
// once the objects are built and substituted (SetCommonMetadata in
// fluxcd/pkg/ssa/utils/meta.go, called from the controller's build; not
// imported for these lines: the module brings kubectl's dependencies).
func setCommonMetadata(u *unstructured.Unstructured, common *unstructured.Unstructured) {
	if common == nil {
		return
	}
	for _, f := range []struct {
		get func() map[string]string
		set func(map[string]string)
		key string
	}{{u.GetLabels, u.SetLabels, "labels"}, {u.GetAnnotations, u.SetAnnotations, "annotations"}} {
		add, _, _ := unstructured.NestedStringMap(common.Object, "spec", "commonMetadata", f.key)
		if len(add) == 0 {
			continue
		}
		m := f.get()
		if m == nil {
			m = map[string]string{}
		}
		for k, v := range add {
			m[k] = v
		}
		f.set(m)
	}
}

// Flux's names (fluxcd/pkg/kustomize kustomize_varsub.go): the opt-out key
// and what a variable name must match.
const substituteKey = "kustomize.toolkit.fluxcd.io/substitute"

var varName = regexp.MustCompile("^[_[:alpha:]][_[:alpha:][:digit:]]*$")

// kustomizeBuild is fluxkustomize.Build (kustomize-controller's build: no
// load restrictions within the file system, builtin plugins only), except
// that it resets kustomize's global OpenAPI schema only when the repository
// has a kustomization with an openapi field: Build resets it before every
// build so that one kustomization's custom schema never leaks into the
// next, which without any custom schema changes nothing, and the reset
// (re-parsing the builtin schema) costs about 80 ms a build.
func (f *follower) kustomizeBuild(fs kfilesys.FileSystem, dir string) (resmap.ResMap, error) {
	if f.customOpenAPI {
		return fluxkustomize.Build(fs, dir)
	}
	return buildWithRecover(fs, dir)
}

// buildWithRecover runs krusty as fluxkustomize.Build does, recovering from
// kustomize's panics on invalid objects as it does.
func buildWithRecover(fs kfilesys.FileSystem, dir string) (res resmap.ResMap, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered from kustomize build panic: %v", r)
		}
	}()
	k := krusty.MakeKustomizer(&krusty.Options{
		LoadRestrictions: kustypes.LoadRestrictionsNone,
		PluginConfig:     kustypes.DisabledPluginConfig(),
	})
	return k.Run(fs, dir)
}

// usesCustomOpenAPI says whether a kustomization file of the tree under root
// has a top-level openapi field.
func usesCustomOpenAPI(root string) bool {
	found := false
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isKustomizationFile(p) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil && openAPIField.Match(data) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

var openAPIField = regexp.MustCompile(`(?m)^openapi:`)

// client is an in-memory client holding the ConfigMaps and Secrets a
// Kustomization's postBuild.substituteFrom names, from those seen so far:
// what Flux's LoadVariables reads them through. Secrets' stringData counts
// as data, as the apiserver stores it. A client costs milliseconds to
// build, so there is one per set of objects.
func (f *follower) client(k *unstructured.Unstructured) (client.Client, error) {
	ns := k.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	refs, _, _ := unstructured.NestedSlice(k.Object, "spec", "postBuild", "substituteFrom")
	var cacheKey strings.Builder
	var found []*unstructured.Unstructured
	for _, ref := range refs {
		m, _ := ref.(map[string]any)
		kind, _ := m["kind"].(string)
		name, _ := m["name"].(string)
		if o, ok := f.store[kind+"/"+ns+"/"+name]; ok {
			found = append(found, o)
			fmt.Fprintf(&cacheKey, "%p;", o)
		}
	}
	if c, ok := f.clients[cacheKey.String()]; ok {
		return c, nil
	}
	var objs []client.Object
	for _, o := range found {
		switch o.GetKind() {
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm); err != nil {
				return nil, fmt.Errorf("ConfigMap %s/%s: %s", ns, o.GetName(), err)
			}
			cm.Namespace = ns
			objs = append(objs, cm)
		case "Secret":
			sec, err := charts.SecretFromManifest(o)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %s", ns, o.GetName(), err)
			}
			sec.Namespace = ns
			objs = append(objs, sec)
		}
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme).WithObjects(objs...).Build()
	f.clients[cacheKey.String()] = c
	return c, nil
}

// coreScheme knows ConfigMaps and Secrets, for client.
var coreScheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	_ = corev1.AddToScheme(s)
	return s
}()

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
