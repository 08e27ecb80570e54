package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"istio.io/istio/operator/pkg/component"
	"istio.io/istio/operator/pkg/manifest"
	"istio.io/istio/operator/pkg/render"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// splitPositional lets the positional argument come before or after flags
// (stdlib flag stops at the first non-flag).
func splitPositional(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

type renderOpts struct {
	hub, tag, revision, namespace, injectionURL, caFile string
	revisionTags, sets                                  []string
}

func renderCmd(args []string) error {
	outDir, rest := splitPositional(args)
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	var o renderOpts
	var tags, sets multiFlag
	fs.StringVar(&o.hub, "hub", "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/istio", "global.hub")
	fs.StringVar(&o.tag, "tag", "1.31-dev", "global.tag")
	fs.StringVar(&o.revision, "revision", "", "Istio revision (\"\" = default)")
	fs.StringVar(&o.namespace, "namespace", "istio-system", "istio namespace")
	fs.StringVar(&o.injectionURL, "injection-url", "", "values.istiodRemote.injectionURL: webhook clientConfig.url instead of the istiod Service (e.g. https://127.0.0.1:15017/inject)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file put into every rendered webhook's clientConfig.caBundle")
	fs.Var(&tags, "revision-tag", "revision tag to render an istio-revision-tag-NAME MWC for (repeatable)")
	fs.Var(&sets, "set", "extra istioctl --set style override, e.g. values.global.proxy.autoInject=disabled (repeatable)")
	_ = fs.Parse(rest)
	if outDir == "" {
		outDir = fs.Arg(0)
	}
	if outDir == "" {
		return fmt.Errorf("render: OUTDIR required")
	}
	o.revisionTags, o.sets = tags, sets
	return render1(outDir, o)
}

func render1(outDir string, o renderOpts) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	// An IstioOperator overlay, as a user would pass with istioctl -f.
	vals := map[string]any{
		"global": map[string]any{"istioNamespace": o.namespace},
	}
	if len(o.revisionTags) > 0 {
		vals["revisionTags"] = o.revisionTags
	}
	if o.injectionURL != "" {
		vals["istiodRemote"] = map[string]any{"injectionURL": o.injectionURL}
	}
	iop := map[string]any{
		"apiVersion": "install.istio.io/v1alpha1",
		"kind":       "IstioOperator",
		"spec": map[string]any{
			"hub":      o.hub,
			"tag":      o.tag,
			"revision": o.revision,
			"values":   vals,
		},
	}
	iopYAML, err := yaml.Marshal(iop)
	if err != nil {
		return err
	}
	iopFile := filepath.Join(outDir, "iop.yaml")
	if err := os.WriteFile(iopFile, iopYAML, 0o644); err != nil {
		return err
	}

	// Same call as `istioctl manifest generate -f iop.yaml --set ...` (no cluster client).
	sets, _, err := render.GenerateManifest([]string{iopFile}, o.sets, false, nil, nil)
	if err != nil {
		return fmt.Errorf("GenerateManifest: %w", err)
	}
	pilot := manifest.ExtractComponent(sets, component.PilotComponentName)
	if len(pilot) == 0 {
		return fmt.Errorf("no Pilot manifests rendered")
	}

	var caBundle string
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return err
		}
		caBundle = base64.StdEncoding.EncodeToString(pem)
	}

	suffix := ""
	if o.revision != "" && o.revision != "default" {
		suffix = "-" + o.revision
	}
	var all, mwcs []string
	found := map[string]bool{}
	for _, m := range pilot {
		all = append(all, m.Content)
		switch {
		case m.GetKind() == "ConfigMap" && m.GetName() == "istio-sidecar-injector"+suffix:
			for _, k := range []string{"config", "values"} {
				v, ok, _ := unstructured.NestedString(m.Object, "data", k)
				if !ok {
					return fmt.Errorf("ConfigMap %s has no data.%s", m.GetName(), k)
				}
				if err := os.WriteFile(filepath.Join(outDir, k), []byte(v), 0o644); err != nil {
					return err
				}
				found[k] = true
			}
		case m.GetKind() == "ConfigMap" && m.GetName() == "istio"+suffix:
			v, _, _ := unstructured.NestedString(m.Object, "data", "mesh")
			if err := os.WriteFile(filepath.Join(outDir, "mesh"), []byte(v), 0o644); err != nil {
				return err
			}
			found["mesh"] = true
		case m.GetKind() == "MutatingWebhookConfiguration":
			content := m.Content
			if caBundle != "" {
				u := m.Unstructured.DeepCopy()
				whs, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
				for i := range whs {
					wh := whs[i].(map[string]any)
					_ = unstructured.SetNestedField(wh, caBundle, "clientConfig", "caBundle")
				}
				_ = unstructured.SetNestedSlice(u.Object, whs, "webhooks")
				b, err := yaml.Marshal(u.Object)
				if err != nil {
					return err
				}
				content = string(b)
			}
			mwcs = append(mwcs, content)
		}
	}
	for _, k := range []string{"config", "values", "mesh"} {
		if !found[k] {
			return fmt.Errorf("rendered Pilot manifests lack %s", k)
		}
	}
	if len(mwcs) == 0 {
		return fmt.Errorf("no MutatingWebhookConfiguration rendered")
	}
	if err := os.WriteFile(filepath.Join(outDir, "mutatingwebhookconfigurations.yaml"),
		[]byte(strings.Join(mwcs, "\n---\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "pilot.yaml"),
		[]byte(strings.Join(all, "\n---\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rendered %d Pilot objects, %d MutatingWebhookConfiguration(s) into %s\n", len(pilot), len(mwcs), outDir)
	return nil
}
