package charts

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	fluxchartutil "github.com/fluxcd/pkg/chartutil"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// NotFollowed is a HelmRelease whose chart is in a source review cannot
// read: another Git repository, a Bucket. Reviewed as an object only.
type NotFollowed struct{ Reason string }

func (n *NotFollowed) Error() string { return n.Reason }

// chartSource is a resolved chart reference: what to fetch, and how to say
// it in a message.
type chartSource struct {
	kind       string // HelmRepository, OCIRepository, GitRepository
	url        string // the source's URL, or the repository folder
	name       string // the chart's name in an index or folder path
	version    string // a version or a semver range
	tag        string // an OCIRepository's fixed tag
	digest     string // an OCIRepository's fixed digest
	oci        bool
	insecure   bool
	valuesFile []string
	ignoreMiss bool
}

// where says the source in messages: "oci://host/helm/jetstack/cert-manager".
func (s chartSource) where() string {
	switch {
	case s.oci && s.kind == "HelmRepository":
		return strings.TrimSuffix(s.url, "/") + "/" + s.name
	case s.kind == "GitRepository":
		return s.name
	}
	return s.url
}

// resolveSource finds the source a HelmRelease's chart comes from, as
// helm-controller does: spec.chartRef (an OCIRepository or a HelmChart)
// or spec.chart (the HelmChart template source-controller builds from a
// HelmRepository, GitRepository or Bucket). Sources live in the
// HelmRelease's namespace unless the reference names another.
func (r *Renderer) resolveSource(hr *helmv2.HelmRelease, objs Objects) (chartSource, error) {
	if ref := hr.Spec.ChartRef; ref != nil {
		ns := orDefault(ref.Namespace, hr.Namespace)
		src := objs.Get(ref.Kind, ns, ref.Name)
		if src == nil {
			return chartSource{}, &NotFollowed{fmt.Sprintf("chart source %s %s/%s is not in the repository", ref.Kind, ns, ref.Name)}
		}
		switch ref.Kind {
		case "OCIRepository":
			url, _, _ := unstructured.NestedString(src.Object, "spec", "url")
			s := chartSource{kind: ref.Kind, url: url, oci: true}
			s.insecure, _, _ = unstructured.NestedBool(src.Object, "spec", "insecure")
			s.tag, _, _ = unstructured.NestedString(src.Object, "spec", "ref", "tag")
			s.version, _, _ = unstructured.NestedString(src.Object, "spec", "ref", "semver")
			s.digest, _, _ = unstructured.NestedString(src.Object, "spec", "ref", "digest")
			if s.tag == "" && s.version == "" && s.digest == "" {
				s.tag = "latest" // source-controller's default reference
			}
			return s, nil
		case "HelmChart":
			var spec helmChartSpec
			spec.Chart, _, _ = unstructured.NestedString(src.Object, "spec", "chart")
			spec.Version, _, _ = unstructured.NestedString(src.Object, "spec", "version")
			spec.SourceKind, _, _ = unstructured.NestedString(src.Object, "spec", "sourceRef", "kind")
			spec.SourceName, _, _ = unstructured.NestedString(src.Object, "spec", "sourceRef", "name")
			spec.ValuesFiles, _, _ = unstructured.NestedStringSlice(src.Object, "spec", "valuesFiles")
			spec.IgnoreMissing, _, _ = unstructured.NestedBool(src.Object, "spec", "ignoreMissingValuesFiles")
			return r.chartSpecSource(spec, ns, objs)
		}
		return chartSource{}, fmt.Errorf("spec.chartRef: kind %q is not a chart source (OCIRepository or HelmChart)", ref.Kind)
	}
	if hr.Spec.Chart == nil {
		return chartSource{}, fmt.Errorf("neither spec.chart nor spec.chartRef is set")
	}
	t := hr.Spec.Chart.Spec
	ns := orDefault(t.SourceRef.Namespace, hr.Namespace)
	return r.chartSpecSource(helmChartSpec{Chart: t.Chart, Version: t.Version, SourceKind: t.SourceRef.Kind,
		SourceName: t.SourceRef.Name, ValuesFiles: t.ValuesFiles, IgnoreMissing: t.IgnoreMissingValuesFiles}, ns, objs)
}

// helmChartSpec is a HelmChart's spec (or the template of one in a
// HelmRelease), flattened.
type helmChartSpec struct {
	Chart, Version, SourceKind, SourceName string
	ValuesFiles                            []string
	IgnoreMissing                          bool
}

func (r *Renderer) chartSpecSource(spec helmChartSpec, ns string, objs Objects) (chartSource, error) {
	s := chartSource{kind: spec.SourceKind, name: spec.Chart, version: spec.Version,
		valuesFile: spec.ValuesFiles, ignoreMiss: spec.IgnoreMissing}
	ref := fmt.Sprintf("%s %s/%s", spec.SourceKind, ns, spec.SourceName)
	switch spec.SourceKind {
	case "HelmRepository":
		src := objs.Get(spec.SourceKind, ns, spec.SourceName)
		if src == nil {
			return s, &NotFollowed{fmt.Sprintf("chart source %s is not in the repository", ref)}
		}
		s.url, _, _ = unstructured.NestedString(src.Object, "spec", "url")
		typ, _, _ := unstructured.NestedString(src.Object, "spec", "type")
		s.oci = typ == "oci"
		s.insecure, _, _ = unstructured.NestedBool(src.Object, "spec", "insecure")
		return s, nil
	case "GitRepository":
		if ref != r.opts.OwnSource {
			return s, &NotFollowed{fmt.Sprintf("chart %s from %s: another repository", spec.Chart, ref)}
		}
		s.url = r.opts.RepoRoot
		return s, nil
	case "Bucket":
		return s, &NotFollowed{fmt.Sprintf("chart %s from %s: a bucket", spec.Chart, ref)}
	}
	return s, fmt.Errorf("chart sourceRef kind %q is not HelmRepository, GitRepository or Bucket", spec.SourceKind)
}

// load fetches (or reads from the repository or the cache) the chart and
// applies chart.spec.valuesFiles, as source-controller's HelmChart does.
func (r *Renderer) load(s chartSource) (*chart.Chart, error) {
	var ch *chart.Chart
	switch {
	case s.kind == "GitRepository":
		dir := filepath.Join(r.opts.RepoRoot, filepath.FromSlash(cleanRel(s.name)))
		if rel, err := filepath.Rel(r.opts.RepoRoot, dir); err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("chart path %q leaves the repository", s.name)
		}
		c, err := loader.LoadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("chart folder %s: %s", s.name, err)
		}
		if ch, err = v2Chart(c); err != nil {
			return nil, err
		}
	default:
		var a *archive
		var err error
		if s.oci {
			ref := strings.TrimPrefix(s.url, "oci://")
			if s.kind == "HelmRepository" {
				ref = strings.TrimSuffix(ref, "/") + "/" + s.name
			}
			a, err = r.fetch.ociChart(ref, s.tag, s.digest, s.version, s.insecure)
		} else {
			a, err = r.fetch.httpChart(s.url, s.name, s.version)
		}
		if err != nil {
			return nil, err
		}
		c, err := loader.LoadArchive(bytes.NewReader(a.data))
		if err != nil {
			return nil, fmt.Errorf("chart archive %s %s: %s", s.where(), a.version, err)
		}
		if ch, err = v2Chart(c); err != nil {
			return nil, err
		}
	}
	if err := r.applyValuesFiles(ch, s); err != nil {
		return nil, err
	}
	return ch, nil
}

// applyValuesFiles replaces the chart's values with chart.spec.valuesFiles
// merged in order, the last winning (source-controller's chart builders,
// internal/helm/chart: values.yaml counts only when listed). The files are
// the chart's own for a chart repository, the repository's (relative to its
// root) for a Git source.
func (r *Renderer) applyValuesFiles(ch *chart.Chart, s chartSource) error {
	if len(s.valuesFile) == 0 {
		return nil
	}
	merged := map[string]any{}
	for _, f := range s.valuesFile {
		var data []byte
		if s.kind == "GitRepository" {
			b, err := os.ReadFile(filepath.Join(r.opts.RepoRoot, filepath.FromSlash(cleanRel(f))))
			if err != nil {
				if s.ignoreMiss && os.IsNotExist(err) {
					continue
				}
				return fmt.Errorf("valuesFiles: %s: no such file in the repository", f)
			}
			data = b
		} else {
			data = chartFile(ch, f)
			if data == nil {
				if s.ignoreMiss {
					continue
				}
				return fmt.Errorf("valuesFiles: %s: no such file in the chart", f)
			}
		}
		v, err := common.ReadValues(data)
		if err != nil {
			return fmt.Errorf("valuesFiles: %s: %s", f, err)
		}
		merged = fluxchartutil.MergeMaps(merged, v)
	}
	ch.Values = merged
	return nil
}

// chartFile is a file of the chart by its path in the chart, or nil.
func chartFile(ch *chart.Chart, name string) []byte {
	name = cleanRel(name)
	if name == "values.yaml" {
		for _, f := range ch.Raw {
			if f.Name == name {
				return f.Data
			}
		}
	}
	for _, f := range ch.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func v2Chart(c any) (*chart.Chart, error) {
	ch, ok := c.(*chart.Chart)
	if !ok {
		return nil, fmt.Errorf("chart apiVersion v3 charts are not rendered (Flux's helm-controller renders v2 charts)")
	}
	return ch, nil
}

func cleanRel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "./")), "/")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
