package policies

import (
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"
)

// IstioCluster is what job-proxy reads about the cluster to tell what
// Istio's injector will do with a pod: the selectors of Istio's
// sidecar-injector webhooks (its MutatingWebhookConfigurations, every
// revision and revision tag) and the kubelet version of every Node. The
// server keeps it current from informers; review fills it from --context.
// Safe for concurrent use.
type IstioCluster struct {
	mu sync.RWMutex
	// webhooksKnown: the configurations below are all there are, so a pod
	// no webhook selects gets no proxy. Until then (review without any
	// MutatingWebhookConfiguration in --context) the selectors the istiod
	// chart renders for a default revision are assumed (chartSelects).
	webhooksKnown bool
	injectors     map[string][]istioInjectorWebhook // by configuration name
	nodes         map[string]int                    // Node name -> kubelet minor version, -1: does not parse
	minors        map[int]int                       // kubelet minor version -> how many Nodes run it
}

// istioInjectorWebhook is one entry of an Istio sidecar-injector
// configuration, its selectors parsed.
type istioInjectorWebhook struct {
	name              string
	namespaceSelector labels.Selector
	objectSelector    labels.Selector
}

// NewIstioCluster returns an empty IstioCluster. With webhooksKnown, its
// webhook configurations are authoritative from the start (the server,
// whose informer has listed them all before it is ready).
func NewIstioCluster(webhooksKnown bool) *IstioCluster {
	return &IstioCluster{webhooksKnown: webhooksKnown, injectors: map[string][]istioInjectorWebhook{},
		nodes: map[string]int{}, minors: map[int]int{}}
}

// istioInjectorSuffix ends the name of every sidecar-injector webhook the
// istiod chart renders: "{{.Prefix}}sidecar-injector.istio.io" in
// templates/mutatingwebhook.yaml and templates/revision-tags-mwc.yaml
// (prefixes rev.namespace., rev.object., namespace., object., auto.).
const istioInjectorSuffix = "sidecar-injector.istio.io"

// SetWebhookConfiguration records the Istio sidecar-injector webhooks of a
// MutatingWebhookConfiguration (none: it is not Istio's). Any configuration
// seen makes the set authoritative.
func (c *IstioCluster) SetWebhookConfiguration(m *admissionregistrationv1.MutatingWebhookConfiguration) {
	var hooks []istioInjectorWebhook
	for _, w := range m.Webhooks {
		if !strings.HasSuffix(w.Name, istioInjectorSuffix) || !createsPods(w.Rules) {
			continue
		}
		ns, err1 := selectorOf(w.NamespaceSelector)
		obj, err2 := selectorOf(w.ObjectSelector)
		if err1 != nil || err2 != nil {
			continue // the apiserver refuses such a configuration
		}
		hooks = append(hooks, istioInjectorWebhook{name: w.Name, namespaceSelector: ns, objectSelector: obj})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.webhooksKnown = true
	if len(hooks) == 0 {
		delete(c.injectors, m.Name)
		return
	}
	c.injectors[m.Name] = hooks
}

// DeleteWebhookConfiguration forgets a configuration.
func (c *IstioCluster) DeleteWebhookConfiguration(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.injectors, name)
}

// SetNode records a Node's kubelet version (status.nodeInfo.kubeletVersion).
// Only the minor version is kept, as Istio compares only that
// (DetectNativeSidecar: a version that does not parse fails its check).
// Istio parses with hashicorp/go-version; ParseGeneric reads the same
// kubelet strings ("v1.33.5-eks-3025e55").
func (c *IstioCluster) SetNode(name, kubeletVersion string) {
	minor := -1
	if v, err := version.ParseGeneric(kubeletVersion); err == nil {
		minor = int(v.Minor())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetNode(name)
	c.nodes[name] = minor
	c.minors[minor]++
}

// DeleteNode forgets a Node.
func (c *IstioCluster) DeleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetNode(name)
}

func (c *IstioCluster) forgetNode(name string) {
	minor, ok := c.nodes[name]
	if !ok {
		return
	}
	delete(c.nodes, name)
	if c.minors[minor]--; c.minors[minor] == 0 {
		delete(c.minors, minor)
	}
}

// selectorOf is the apiserver's reading of a webhook selector: none matches
// everything.
func selectorOf(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

// createsPods says whether webhook rules match a CREATE of core v1 pods.
func createsPods(rules []admissionregistrationv1.RuleWithOperations) bool {
	for _, r := range rules {
		if anyOf(r.Operations, admissionregistrationv1.Create, admissionregistrationv1.OperationAll) &&
			anyOf(r.APIGroups, "", "*") && anyOf(r.APIVersions, "v1", "*") && anyOf(r.Resources, "pods", "*") {
			return true
		}
	}
	return false
}

func anyOf[T comparable](list []T, want ...T) bool {
	for _, v := range list {
		for _, w := range want {
			if v == w {
				return true
			}
		}
	}
	return false
}

// injectorSelects says whether the apiserver calls one of Istio's injector
// webhooks for a pod with podLabels in a namespace with namespaceLabels, and
// whether that was decided from the cluster's configurations (false: none
// known, the caller falls back to the chart's selectors). The apiserver
// matches namespaceSelector against the namespace's labels, which always
// include kubernetes.io/metadata.name, and objectSelector against the pod's.
// A webhook's matchConditions are not evaluated (Istio's have none).
func (c *IstioCluster) injectorSelects(namespace string, namespaceLabels, podLabels map[string]string) (selected, known bool) {
	if c == nil {
		return false, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.webhooksKnown {
		return false, false
	}
	ns := labels.Set{corev1.LabelMetadataName: namespace}
	for k, v := range namespaceLabels {
		ns[k] = v
	}
	pod := labels.Set(podLabels)
	for _, hooks := range c.injectors {
		for _, h := range hooks {
			if h.namespaceSelector.Matches(ns) && h.objectSelector.Matches(pod) {
				return true, true
			}
		}
	}
	return false, true
}

// kubeletsAtLeast says whether the Nodes a pod may run on all have a kubelet
// of minor version min or newer: the pod's own Node when spec.nodeName
// names a known one, otherwise every Node. It is Istio's own rule
// (DetectNativeSidecar in pkg/kube/inject/webhook.go): a version that does
// not parse fails the check, only the minor version is compared, and no
// Nodes at all (or no cluster: review without Nodes in --context) passes.
func (c *IstioCluster) kubeletsAtLeast(nodeName string, min int) bool {
	if c == nil {
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if minor, found := c.nodes[nodeName]; nodeName != "" && found {
		return minor >= min
	}
	// Distinct minor versions are few, however many Nodes there are.
	for minor := range c.minors {
		if minor < min {
			return false
		}
	}
	return true
}
