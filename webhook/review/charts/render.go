package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/postrenderer"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// Rendered is one object a release would create, with the chart template
// it came from ("CHART/templates/FILE", Helm's "# Source:" path).
type Rendered struct {
	Template string
	Object   *unstructured.Unstructured
}

// renderInput is what one install needs beyond the chart.
type renderInput struct {
	releaseName, namespace string
	values                 map[string]any
	kubeVersion            *common.KubeVersion
	apiVersions            []string
	// crds is the install's CRD policy: Skip leaves the chart's crds/ out.
	crds         string
	disableHooks bool
	originLabels map[string]string
	// tests keeps the chart's test hooks (spec.test.enable: helm-controller
	// runs them after install); else they are never created.
	tests        bool
	postRenderer postrenderer.PostRenderer
	// clusterScoped says which kinds get no namespace (the apiserver's
	// RESTMapper, offline: see scope.go).
	scopes scopes
	// postRenderStrategy is how hooks meet the post-renderers.
	postRenderStrategy helmv2.PostRenderStrategy
}

// render installs the chart client-side, as `helm template` does and as
// helm-controller's install does up to the apply: Helm's own Install
// action with DryRunClient (no cluster: Capabilities are the KubeVersion
// and API versions given), the release name and namespace of the
// HelmRelease, IsInstall true. The chart's crds/ come first (helm-controller
// applies them before the templates unless the CRD policy is Skip), then
// the manifests in Helm's install order, then the hooks (Jobs and Pods
// that run at install: their pods reach the webhook as well) unless
// disabled (test hooks only with spec.test.enable).
func render(ctx context.Context, ch *chart.Chart, in renderInput) ([]Rendered, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = in.releaseName
	install.Namespace = in.namespace
	install.KubeVersion = in.kubeVersion
	install.APIVersions = in.apiVersions
	install.DisableHooks = in.disableHooks
	install.PostRenderer = in.postRenderer
	// helm-controller passes spec.postRenderStrategy to Helm as it is
	// (the same three names); unset is Helm 4's "combined".
	install.PostRenderStrategy = action.PostRenderStrategy(in.postRenderStrategy)
	// helm template's --include-crds is off: the CRDs are taken from the
	// chart below, whatever the templates say.
	install.IncludeCRDs = false
	install.SkipCRDs = true
	out, err := install.RunWithContext(ctx, ch, in.values)
	if err != nil {
		return nil, err
	}
	rel, ok := out.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("helm returned a %T, not a v1 release", out)
	}

	var objs []Rendered
	if in.crds != string(helmv2.Skip) {
		for _, crd := range ch.CRDObjects() {
			docs, err := decodeAll(crd.File.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %s", crd.Filename, err)
			}
			for _, o := range docs {
				// Applied before the templates, as they are, with the
				// origin labels only (helm-controller internal/action
				// crds.go applyCRDs): no post-rendering, no commonMetadata.
				if o.GetKind() != "CustomResourceDefinition" {
					continue
				}
				labels := o.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				for k, v := range in.originLabels {
					labels[k] = v
				}
				o.SetLabels(labels)
				objs = append(objs, Rendered{Template: crd.Filename, Object: o})
			}
		}
	}
	manifests, err := splitManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	objs = append(objs, manifests...)
	if !in.disableHooks {
		hooks := append([]*release.Hook(nil), rel.Hooks...)
		sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Weight < hooks[j].Weight })
		for _, h := range hooks {
			if !in.tests && onlyTest(h) {
				continue
			}
			docs, err := decodeAll([]byte(h.Manifest))
			if err != nil {
				return nil, fmt.Errorf("%s: %s", h.Path, err)
			}
			for _, o := range docs {
				objs = append(objs, Rendered{Template: h.Path, Object: o})
			}
		}
	}
	for _, o := range objs {
		in.scopes.learn(o.Object)
	}
	for _, o := range objs {
		if o.Object.GetNamespace() == "" && !in.scopes.clusterScoped(o.Object.GroupVersionKind().GroupKind()) {
			o.Object.SetNamespace(in.namespace)
		}
	}
	return objs, nil
}

// onlyTest says whether a hook runs only for `helm test`.
func onlyTest(h *release.Hook) bool {
	for _, e := range h.Events {
		if e != release.HookTest {
			return false
		}
	}
	return len(h.Events) > 0
}

// splitManifest reads a release manifest: documents each after a
// "# Source: PATH" line, as Helm's renderResources writes them.
func splitManifest(manifest string) ([]Rendered, error) {
	const marker = "# Source: "
	var objs []Rendered
	for _, part := range strings.Split(manifest, "\n---\n") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "---\n")
		src := ""
		if strings.HasPrefix(part, marker) {
			line, rest, _ := strings.Cut(part, "\n")
			src, part = strings.TrimPrefix(line, marker), rest
		}
		docs, err := decodeAll([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("%s: %s", src, err)
		}
		for _, o := range docs {
			objs = append(objs, Rendered{Template: src, Object: o})
		}
	}
	return objs, nil
}

// decodeAll reads the YAML documents of data as objects, skipping empty ones.
func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			continue
		}
		// Through JSON, so numbers are int64 and float64 as the policies expect.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
}
