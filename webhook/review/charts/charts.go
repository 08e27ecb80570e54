// Package charts renders Flux HelmReleases offline, as helm-controller
// would install them: the chart fetched from its source (an HTTP chart
// repository, an OCI registry, or a folder of the repository being
// reviewed), the values composed, the release named, the templates rendered
// with Helm's own SDK (helm.sh/helm/v4) and post-rendered. review --flux
// hands it the HelmReleases it reaches and takes back the objects.
package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/cli"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// DefaultKubeVersion is the Kubernetes the Capabilities say when
// --kube-version is not given: the newest the project is built and tested
// against (k8s.io/api v0.37 is Kubernetes 1.37).
const DefaultKubeVersion = "v1.37.0"

// Options configure a Renderer.
type Options struct {
	// RepoRoot is the repository being reviewed, as checked out: charts of
	// OwnSource are read from its working tree.
	RepoRoot string
	// OwnSource is "GitRepository NAMESPACE/NAME" of the repository being
	// reviewed (flux bootstrap's flux-system/flux-system).
	OwnSource string
	// CacheDir keeps fetched charts; "" is the user's cache folder
	// (os.UserCacheDir()/platform-webhook/charts), else a temporary one.
	CacheDir string
	// KubeVersion is the Capabilities.KubeVersion; "" is DefaultKubeVersion.
	KubeVersion string
	// APIVersions are added to the Capabilities: the group/versions (and
	// group/version/Kind) of the CRDs found in the repository.
	APIVersions []string
	// Skip are HelmReleases ("NAMESPACE/NAME") reviewed as objects only
	// (--skip-chart): a chart CI cannot reach.
	Skip []string
	// Transport, when set, carries every chart request (tests use it to
	// reach loopback registries under the names a repository uses).
	Transport *http.Transport
}

// Renderer renders HelmReleases. Not safe for concurrent use.
type Renderer struct {
	opts        Options
	fetch       *fetcher
	kubeVersion *common.KubeVersion
	scopes      scopes
	cleanup     func()
}

// New makes a Renderer; Close removes a temporary cache.
func New(opts Options) (*Renderer, error) {
	kv := opts.KubeVersion
	if kv == "" {
		kv = DefaultKubeVersion
	}
	parsed, err := common.ParseKubeVersion(kv)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q: %s", opts.KubeVersion, err)
	}
	r := &Renderer{opts: opts, kubeVersion: parsed, scopes: newScopes(), cleanup: func() {}}
	dir := opts.CacheDir
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "platform-webhook", "charts")
		}
	}
	if dir == "" || os.MkdirAll(dir, 0o755) != nil {
		if opts.CacheDir != "" {
			return nil, fmt.Errorf("--chart-cache %s: cannot create the folder", opts.CacheDir)
		}
		if dir, err = os.MkdirTemp("", "platform-webhook-charts-"); err != nil {
			return nil, err
		}
		r.cleanup = func() { os.RemoveAll(dir) }
	}
	r.fetch = &fetcher{cache: &cache{dir: dir}, transport: opts.Transport, settings: cli.New()}
	return r, nil
}

// Close removes the cache when it was a temporary one.
func (r *Renderer) Close() { r.cleanup() }

// Learn records the scope of the CRDs among the repository's objects, so
// objects of cluster-scoped custom kinds get no namespace.
func (r *Renderer) Learn(o *unstructured.Unstructured) { r.scopes.learn(o) }

// Error is a HelmRelease whose chart could not be fetched or rendered.
type Error struct {
	Release string // "HelmRelease NAMESPACE/NAME"
	Source  string // the chart's source URL or folder
	Reason  string
}

func (e *Error) Error() string {
	if e.Source == "" {
		return e.Release + ": " + e.Reason
	}
	return e.Release + ": chart " + e.Source + ": " + e.Reason
}

// Render renders one HelmRelease (post-build substitution already done, as
// the Kustomization that carries it does). The objects come in install
// order; a *NotFollowed error says the chart is in a source review cannot
// read, an *Error what failed.
func (r *Renderer) Render(ctx context.Context, u *unstructured.Unstructured, objs Objects) ([]Rendered, error) {
	hr := &helmv2.HelmRelease{}
	who := "HelmRelease " + u.GetNamespace() + "/" + u.GetName()
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr); err != nil {
		return nil, &Error{Release: who, Reason: "not a valid HelmRelease: " + err.Error()}
	}
	if hr.Namespace == "" {
		hr.Namespace = "default"
	}
	for _, s := range r.opts.Skip {
		if s == hr.Namespace+"/"+hr.Name {
			return nil, &NotFollowed{Reason: who + " (--skip-chart)"}
		}
	}
	src, err := r.resolveSource(hr, objs)
	var nf *NotFollowed
	if errors.As(err, &nf) {
		return nil, &NotFollowed{Reason: who + " (" + nf.Reason + ")"}
	} else if err != nil {
		return nil, &Error{Release: who, Reason: err.Error()}
	}
	fail := func(err error) error {
		var fe *fetchError
		if errors.As(err, &fe) {
			return &Error{Release: who, Source: fe.url, Reason: fe.reason}
		}
		return &Error{Release: who, Source: src.where(), Reason: oneLine(err.Error())}
	}
	ch, err := r.load(src)
	if err != nil {
		return nil, fail(err)
	}
	vals, err := values(ctx, hr, objs)
	if err != nil {
		return nil, &Error{Release: who, Reason: err.Error()}
	}
	install := hr.GetInstall()
	crds := string(install.CRDs)
	if install.SkipCRDs && crds == "" {
		crds = string(helmv2.Skip)
	}
	// CRDs the chart brings count for its own templates' Capabilities, as
	// they do when helm-controller installs them before rendering.
	apiVersions := append([]string(nil), r.opts.APIVersions...)
	if crds != string(helmv2.Skip) {
		for _, crd := range ch.CRDObjects() {
			if docs, err := decodeAll(crd.File.Data); err == nil {
				for _, d := range docs {
					apiVersions = append(apiVersions, crdAPIVersions(d)...)
				}
			}
		}
	}
	objects, err := render(ctx, ch, renderInput{
		releaseName: releaseName(hr), namespace: hr.GetReleaseNamespace(), values: vals,
		kubeVersion: r.kubeVersion, apiVersions: apiVersions, crds: crds,
		disableHooks: install.DisableHooks, originLabels: originLabels(hr), tests: hr.GetTest().Enable, postRenderer: postRenderers(hr), postRenderStrategy: hr.GetPostRenderStrategy(),
		scopes: r.scopes,
	})
	if err != nil {
		return nil, fail(err)
	}
	return objects, nil
}

// releaseName is helm-controller's: spec.releaseName, else
// [targetNamespace-]name (GetReleaseName in helm-controller/api v2), past
// 53 characters (Helm's limit) shortened to its first 40 characters, "-"
// and the first 12 hex digits of the SHA-256 of the whole
// (helm-controller internal/release ShortenName).
func releaseName(hr *helmv2.HelmRelease) string {
	name := hr.GetReleaseName()
	const maxLength, hashLength = 53, 12
	if len(name) <= maxLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxLength-hashLength-1] + "-" + hex.EncodeToString(sum[:])[:hashLength]
}

// CRDAPIVersions are the Capabilities.APIVersions entries a CRD adds:
// "group/version" and "group/version/Kind" for each version served.
func CRDAPIVersions(o *unstructured.Unstructured) []string { return crdAPIVersions(o) }

func crdAPIVersions(o *unstructured.Unstructured) []string {
	if o.GetKind() != "CustomResourceDefinition" {
		return nil
	}
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
	var out []string
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if served, ok := m["served"].(bool); name == "" || ok && !served {
			continue
		}
		out = append(out, group+"/"+name, group+"/"+name+"/"+kind)
	}
	return out
}

// oneLine folds a multi-line error (template errors, YAML errors) onto one
// line, so a CI log shows it whole.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
