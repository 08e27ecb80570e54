package policies

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// istioWebhooks is a cluster holding the MutatingWebhookConfigurations of
// the given testdata/istio files (rendered from the istiod chart) and Nodes
// of the given kubelet versions.
func istioWebhooks(t testing.TB, files []string, kubelets ...string) *IstioCluster {
	t.Helper()
	c := nodes(kubelets...)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", "istio", f))
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if err != nil {
				break
			}
			var m admissionregistrationv1.MutatingWebhookConfiguration
			if err := yaml.UnmarshalStrict(doc, &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m.Name != "" {
				c.SetWebhookConfiguration(&m)
			}
		}
	}
	return c
}

// The seed's Istio: revision 1-30 with the tag stable, no default revision.
var (
	seedIstio        = []string{"revision-1-30-tag-stable.yaml"}
	seedWithDefault  = []string{"revision-1-30-tag-stable.yaml", "revision-1-30-tag-default.yaml"}
	newKubelets      = []string{"v1.37.2", "v1.33.0-eks-3025e55"}
	mixedKubelets    = []string{"v1.37.2", "v1.32.4"}
	wrapInstallMain  = []string{addInstall, wrapLine("main")}
	argsOnlyFallback = []string{`annotate the pod sidecar.istio.io/nativeSidecar: "true" (container "main" has no command to wrap)`}
)

// TestJobProxyIstioDecides: job-proxy against what Istio's injector will do,
// from the cluster's rendered webhook configurations and Nodes; the rows of
// the issue "job-proxy decides exactly as Istio's injector will".
func TestJobProxyIstioDecides(t *testing.T) {
	argsOnly := func(p *corev1.Pod) {
		p.Spec.Containers[0].Command = nil
		p.Spec.Containers[0].Args = []string{"--once"}
	}
	annotated := func(k, v string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations[k] = v
		}
	}
	both := func(fs ...func(*corev1.Pod)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			for _, f := range fs {
				f(p)
			}
		}
	}
	customized := func(p *corev1.Pod) {
		argsOnly(p)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "auto"})
	}
	stable := map[string]string{"istio.io/rev": "stable"}
	for _, tc := range []struct {
		name     string
		webhooks []string
		kubelets []string
		ns       map[string]string
		cfg      JobProxyConfig
		pod      func(*corev1.Pod)
		lines    []string
		refusals []string
	}{
		// Native sidecars are Istio's default: auto with kubelets 1.33+.
		{name: "kubelets 1.33+: Istio injects a native sidecar, nothing to do", webhooks: seedIstio, kubelets: newKubelets, ns: stable},
		{name: "kubelets 1.33+: an args-only Job runs as it is", webhooks: seedIstio, kubelets: newKubelets, ns: stable, pod: argsOnly},
		{name: "a strategy wrapper config: still nothing where the proxy is native", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			cfg: JobProxyConfig{Strategy: JobProxyWrapper}},
		{name: "one kubelet 1.32: a regular proxy, wrapped", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable, lines: wrapInstallMain},
		{name: "one kubelet 1.32: args-only annotated native (1.29+ runs it)", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: argsOnly, lines: argsOnlyFallback},
		{name: "the pod's own node is 1.37: native", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: func(p *corev1.Pod) { p.Spec.NodeName = "node-0" }},
		{name: "the pod's node is unknown: every Node counts", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: func(p *corev1.Pod) { p.Spec.NodeName = "node-9" }, lines: wrapInstallMain},
		{name: "a kubelet version that does not parse: not native", webhooks: seedIstio, kubelets: []string{"v1.37.2", "unknown"}, ns: stable,
			lines: wrapInstallMain},
		{name: "istiod ENABLE_NATIVE_SIDECARS=true on old kubelets: native", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			cfg: JobProxyConfig{IstioNativeSidecars: IstioNativeSidecarsTrue}},
		{name: "istiod ENABLE_NATIVE_SIDECARS=false: wrapped", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			cfg: JobProxyConfig{IstioNativeSidecars: IstioNativeSidecarsFalse}, lines: wrapInstallMain},
		{name: "the pod says nativeSidecar false: wrapped", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			pod: annotated(IstioNativeSidecarAnnotation, "false"), lines: wrapInstallMain},
		{name: "the pod says nativeSidecar false, args only: refused, no annotation to suggest", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			pod:      both(argsOnly, annotated(IstioNativeSidecarAnnotation, "false")),
			refusals: []string{`spec.containers[0].command: container "main" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)`}},
		{name: "the pod says nativeSidecar yes: the template reads anything but false as native", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: annotated(IstioNativeSidecarAnnotation, "yes")},
		// Wrapped, but no proxy comes: Istio's webhooks select on labels.
		{name: "annotation-only inject true, namespace without labels: no proxy", webhooks: seedWithDefault, kubelets: mixedKubelets,
			pod: annotated(IstioInjectLabel, "true")},
		{name: "namespace istio-injection false: no proxy", webhooks: seedWithDefault, kubelets: mixedKubelets,
			ns: map[string]string{"istio-injection": "false"}, pod: func(p *corev1.Pod) { p.Labels[IstioInjectLabel] = "true" }},
		// The seed has no default revision: istio-injection=enabled injects nothing.
		{name: "seed: istio-injection enabled without a default tag: no proxy", webhooks: seedIstio, kubelets: mixedKubelets,
			ns: map[string]string{"istio-injection": "enabled"}},
		{name: "with the default tag: istio-injection enabled is injected", webhooks: seedWithDefault, kubelets: mixedKubelets,
			ns: map[string]string{"istio-injection": "enabled"}, lines: wrapInstallMain},
		{name: "seed: a revision that is not installed: no proxy", webhooks: seedIstio, kubelets: mixedKubelets,
			ns: map[string]string{"istio.io/rev": "canary"}},
		{name: "seed: the revision itself", webhooks: seedIstio, kubelets: mixedKubelets,
			ns: map[string]string{"istio.io/rev": "1-30"}, lines: wrapInstallMain},
		{name: "seed: pod label istio.io/rev stable in a namespace without labels", webhooks: seedIstio, kubelets: mixedKubelets,
			pod: func(p *corev1.Pod) { p.Labels["istio.io/rev"] = "stable" }, lines: wrapInstallMain},
		{name: "seed: pod label inject true alone selects nothing without a default tag", webhooks: seedIstio, kubelets: mixedKubelets,
			pod: func(p *corev1.Pod) { p.Labels[IstioInjectLabel] = "true" }},
		{name: "no Istio webhooks in the cluster: no proxy", webhooks: []string{}, kubelets: mixedKubelets, ns: stable},
		// Istio's customization container.
		{name: "customization container, args only, kubelets 1.33+: native, admitted", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			pod: customized},
		{name: "customization container, args only, annotated native: admitted", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: both(customized, annotated(IstioNativeSidecarAnnotation, "true"))},
		{name: "customization container, args only, one kubelet 1.32: annotated", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			pod: customized, lines: argsOnlyFallback},
		{name: "customization container, strategy wrapper, one kubelet 1.32: annotated", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			cfg: JobProxyConfig{Strategy: JobProxyWrapper}, pod: customized, lines: argsOnlyFallback},
		{name: "customization container, strategy native: admitted as Istio goes native", webhooks: seedIstio, kubelets: newKubelets, ns: stable,
			cfg: JobProxyConfig{Strategy: JobProxyNative}, pod: customized},
		{name: "strategy native, one kubelet 1.32: annotated", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			cfg: JobProxyConfig{Strategy: JobProxyNative}, lines: []string{annotate}},
		{name: "auto with nativeSidecars, one kubelet 1.32: annotated", webhooks: seedIstio, kubelets: mixedKubelets, ns: stable,
			cfg: JobProxyConfig{NativeSidecars: true}, lines: []string{annotate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := jobPod(tc.pod)
			req := Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: tc.ns,
				Istio: istioWebhooks(t, tc.webhooks, tc.kubelets...)}
			if tc.webhooks != nil && len(tc.webhooks) == 0 {
				req.Istio.SetWebhookConfiguration(&admissionregistrationv1.MutatingWebhookConfiguration{}) // known: none
			}
			policy := NewJobProxy(tc.cfg)
			var refusals []string
			for _, v := range policy.Refuse(req, pod) {
				refusals = append(refusals, v.String())
			}
			if !reflect.DeepEqual(refusals, tc.refusals) {
				t.Errorf("Refuse()\n got %q\nwant %q", refusals, tc.refusals)
			}
			if lines := policy.Mutate(req, pod); !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("Mutate()\n got %q\nwant %q", lines, tc.lines)
			}
		})
	}
}

// TestIstioClusterSelectors: the rendered configurations' selectors as the
// apiserver evaluates them, against the chart's rows chartSelects assumes
// for a default revision: the two agree where both apply.
func TestIstioClusterSelectors(t *testing.T) {
	withDefault := istioWebhooks(t, seedWithDefault)
	for _, tc := range []struct {
		name      string
		ns, pod   map[string]string
		want      bool
		chartSame bool // the default-revision chart rows say the same
	}{
		{"namespace istio-injection enabled", map[string]string{"istio-injection": "enabled"}, nil, true, true},
		{"namespace istio-injection enabled, pod inject false", map[string]string{"istio-injection": "enabled"}, map[string]string{IstioInjectLabel: "false"}, false, true},
		{"namespace istio-injection false", map[string]string{"istio-injection": "false"}, map[string]string{IstioInjectLabel: "true"}, false, true},
		{"namespace rev stable", map[string]string{"istio.io/rev": "stable"}, nil, true, true},
		{"namespace rev stable and istio-injection enabled", map[string]string{"istio.io/rev": "stable", "istio-injection": "enabled"}, nil, true, true},
		{"pod inject true", nil, map[string]string{IstioInjectLabel: "true"}, true, true},
		{"pod rev stable", nil, map[string]string{"istio.io/rev": "stable"}, true, true},
		{"pod inject yes", nil, map[string]string{IstioInjectLabel: "yes"}, false, true},
		{"nothing", nil, nil, false, true},
		// Where the chart rows assume every revision exists, the cluster knows.
		{"namespace rev canary (not installed)", map[string]string{"istio.io/rev": "canary"}, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, known := withDefault.injectorSelects("tenant-a", tc.ns, tc.pod)
			if !known || got != tc.want {
				t.Errorf("injectorSelects = %v (known %v), want %v", got, known, tc.want)
			}
			chart := chartSelects(tc.ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tc.pod}})
			if (chart == got) != tc.chartSame {
				t.Errorf("chartSelects = %v, cluster %v; same expected: %v", chart, got, tc.chartSame)
			}
		})
	}
	if _, known := NewIstioCluster(false).injectorSelects("a", nil, nil); known {
		t.Error("an empty review cluster claims to know the webhooks")
	}
	if _, known := (*IstioCluster)(nil).injectorSelects("a", nil, nil); known {
		t.Error("a nil cluster claims to know the webhooks")
	}
	c := istioWebhooks(t, seedIstio)
	// Nodes: replaced and deleted ones no longer count.
	c.SetNode("a", "v1.31.0")
	c.SetNode("b", "v1.37.0")
	if c.kubeletsAtLeast("", 33) {
		t.Error("a 1.31 Node passes 1.33")
	}
	c.SetNode("a", "v1.33.0") // upgraded in place
	if !c.kubeletsAtLeast("", 33) {
		t.Error("the upgraded Node still counts as 1.31")
	}
	c.SetNode("c", "garbage")
	if c.kubeletsAtLeast("", 29) || !c.kubeletsAtLeast("b", 33) {
		t.Error("an unparsable version passes, or the pod's own Node is not used")
	}
	c.DeleteNode("c")
	c.DeleteNode("missing")
	if !c.kubeletsAtLeast("", 33) {
		t.Error("a deleted Node still counts")
	}
	c.DeleteWebhookConfiguration("istio-revision-tag-stable")
	if got, _ := c.injectorSelects("a", map[string]string{"istio.io/rev": "stable"}, nil); got {
		t.Error("a deleted tag still selects")
	}
}
