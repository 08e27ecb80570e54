package charts

import (
	"bytes"
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	fluxkustomize "github.com/fluxcd/pkg/kustomize"
	"helm.sh/helm/v4/pkg/postrenderer"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

// postRenderers chains what helm-controller runs after Helm's templates
// (helm-controller internal/postrender BuildPostRenderers): each
// spec.postRenderers[].kustomize in order (patches and images, built by
// kustomize over the rendered manifests), then spec.commonMetadata, then
// the origin labels naming the HelmRelease.
func postRenderers(hr *helmv2.HelmRelease) (postrenderer.PostRenderer, error) {
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
	labels := map[string]string{}
	annotations := map[string]string{}
	if cm := hr.Spec.CommonMetadata; cm != nil {
		for k, v := range cm.Labels {
			labels[k] = v
		}
		for k, v := range cm.Annotations {
			annotations[k] = v
		}
	}
	labels[helmv2.GroupVersion.Group+"/name"] = hr.Name
	labels[helmv2.GroupVersion.Group+"/namespace"] = hr.Namespace
	chain = append(chain, &kustomizeRenderer{index: -1, k: kustypes.Kustomization{
		// Labels on metadata only (no selectors): what helm-controller's
		// origin-labels and common-metadata renderers add.
		Labels:            []kustypes.Label{{Pairs: labels}},
		CommonAnnotations: annotations,
	}})
	return chain, nil
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
	index int // the postRenderers entry, for messages; -1 for the metadata
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
		if k.index >= 0 {
			return nil, fmt.Errorf("spec.postRenderers[%d].kustomize: %s", k.index, err)
		}
		return nil, err
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(out), nil
}
