package charts

import (
	"bytes"
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	"helm.sh/helm/v4/pkg/postrenderer"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// postRenderers chains what helm-controller runs after Helm's templates
// (helm-controller v1.6 internal/postrender/build.go BuildPostRenderers):
// each spec.postRenderers[].kustomize in order (patches and images, built
// by kustomize over the rendered manifests: internal/postrender
// kustomize.go Kustomize.Run), then spec.commonMetadata
// (common_renderer.go: labels and annotations on metadata only), then the
// origin labels naming the HelmRelease (origin_labels.go), last so they
// win. Helm runs the chain over hooks too unless spec.postRenderStrategy
// says otherwise.
func postRenderers(hr *helmv2.HelmRelease) postrenderer.PostRenderer {
	var chain combined
	for i, pr := range hr.Spec.PostRenderers {
		if pr.Kustomize == nil {
			continue
		}
		k := kustypes.Kustomization{}
		for _, p := range pr.Kustomize.Patches {
			var target *kustypes.Selector
			if p.Target != nil {
				target = &kustypes.Selector{
					ResId: resid.ResId{Gvk: resid.NewGvk(p.Target.Group, p.Target.Version, p.Target.Kind),
						Name: p.Target.Name, Namespace: p.Target.Namespace},
					AnnotationSelector: p.Target.AnnotationSelector,
					LabelSelector:      p.Target.LabelSelector,
				}
			}
			k.Patches = append(k.Patches, kustypes.Patch{Patch: p.Patch, Target: target})
		}
		for _, img := range pr.Kustomize.Images {
			k.Images = append(k.Images, kustypes.Image{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest})
		}
		chain = append(chain, &kustomizeRenderer{index: i, k: k})
	}
	if cm := hr.Spec.CommonMetadata; cm != nil {
		chain = append(chain, &metadataRenderer{labels: cm.Labels, annotations: cm.Annotations})
	}
	chain = append(chain, &metadataRenderer{labels: originLabels(hr)})
	return chain
}

// combined runs post-renderers one after the other.
type combined []postrenderer.PostRenderer

func (c combined) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	var err error
	for _, pr := range c {
		if in, err = pr.Run(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// kustomizeRenderer builds a kustomization whose only resource is Helm's
// output, in memory, with Flux's kustomize build.
type kustomizeRenderer struct {
	index int // the postRenderers entry, for messages
	k     kustypes.Kustomization
}

func (k *kustomizeRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	fs := filesys.MakeFsInMemory()
	const input = "helm-output.yaml"
	cfg := k.k
	cfg.APIVersion, cfg.Kind = kustypes.KustomizationVersion, kustypes.KustomizationKind
	cfg.Resources = []string{input}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := fs.WriteFile(input, in.Bytes()); err != nil {
		return nil, err
	}
	if err := fs.WriteFile("kustomization.yaml", data); err != nil {
		return nil, err
	}
	res, err := fluxkustomize.Build(fs, ".")
	if err != nil {
		return nil, fmt.Errorf("spec.postRenderers[%d].kustomize: %s", k.index, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(out), nil
}

// originLabels name the HelmRelease on every object it installs
// (helm-controller's NewOriginLabels("helm.toolkit.fluxcd.io", ...)).
func originLabels(hr *helmv2.HelmRelease) map[string]string {
	return map[string]string{
		helmv2.GroupVersion.Group + "/name":      hr.Name,
		helmv2.GroupVersion.Group + "/namespace": hr.Namespace,
	}
}

// metadataRenderer sets labels and annotations on each object's metadata
// only (not on selectors or pod templates), creating them if absent: what
// kustomize's LabelTransformer and AnnotationsTransformer do with the field
// specs metadata/labels and metadata/annotations, as helm-controller
// configures them.
type metadataRenderer struct {
	labels, annotations map[string]string
}

func (m *metadataRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	nodes, err := kio.FromBytes(in.Bytes())
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		for k, v := range m.labels {
			if err := n.PipeE(kyaml.SetLabel(k, v)); err != nil {
				return nil, err
			}
		}
		for k, v := range m.annotations {
			if err := n.PipeE(kyaml.SetAnnotation(k, v)); err != nil {
				return nil, err
			}
		}
	}
	out, err := kio.StringAll(nodes)
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out), nil
}
