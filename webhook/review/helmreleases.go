package review

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flux-infra/platform-webhook/webhook/review/charts"
)

// ChartOptions say how review --flux renders HelmReleases (package
// charts); nil FluxOptions.Charts reviews them as objects only.
type ChartOptions = charts.Options

// renderHelmReleases puts after each HelmRelease among docs the objects its
// chart would create, sourced "HelmRelease NAMESPACE/NAME: TEMPLATE" and
// annotated at the HelmRelease's file and line. A HelmRelease whose chart
// is in a source review cannot read is named in notFollowed; one whose
// chart cannot be fetched or rendered is the error.
func renderHelmReleases(ctx context.Context, opts charts.Options, root string, docs []Document, vars []*unstructured.Unstructured) (out []Document, notFollowed []string, err error) {
	objs := lookup{}
	for _, o := range vars {
		objs.add(o)
	}
	for _, d := range docs {
		objs.add(d.Object)
		opts.APIVersions = append(opts.APIVersions, charts.CRDAPIVersions(d.Object)...)
	}
	r, err := charts.New(opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	for _, d := range docs {
		r.Learn(d.Object)
	}
	lines := lineFinder{root: root}
	for _, d := range docs {
		out = append(out, d)
		if !isHelmRelease(d.Object) {
			continue
		}
		rendered, err := r.Render(ctx, d.Object, objs)
		var nf *charts.NotFollowed
		if errors.As(err, &nf) {
			notFollowed = append(notFollowed, nf.Reason)
			continue
		} else if err != nil {
			return nil, nil, err
		}
		who := "HelmRelease " + d.Object.GetNamespace() + "/" + d.Object.GetName()
		at := lines.find(d, "HelmRelease", d.Object.GetName())
		for _, o := range rendered {
			out = append(out, Document{Source: who + ": " + o.Template, Object: o.Object, At: at})
		}
	}
	return out, notFollowed, nil
}

func isHelmRelease(o *unstructured.Unstructured) bool {
	return o.GroupVersionKind().Group == "helm.toolkit.fluxcd.io" && o.GetKind() == "HelmRelease"
}

// lookup finds objects by kind, namespace and name for package charts.
type lookup map[string]*unstructured.Unstructured

func (l lookup) add(o *unstructured.Unstructured) {
	ns := o.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	l[o.GetKind()+"/"+ns+"/"+o.GetName()] = o
}

func (l lookup) Get(kind, namespace, name string) *unstructured.Unstructured {
	return l[kind+"/"+namespace+"/"+name]
}

// lineFinder says where in the repository an object of a Flux build is
// written: its file (kustomize's origin, in the Document's Source) and the
// line of the document whose kind and metadata.name are the object's.
type lineFinder struct{ root string }

func (l lineFinder) find(d Document, kind, name string) string {
	_, file, ok := strings.Cut(d.Source, ": ")
	if !ok {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(file)))
	if err != nil {
		return file
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if dec.Decode(&n) != nil { // the end, or YAML kustomize read anyway
			return file
		}
		var head struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if n.Decode(&head) == nil && head.Kind == kind && head.Metadata.Name == name && len(n.Content) > 0 {
			return file + ":" + strconv.Itoa(n.Content[0].Line)
		}
	}
}
