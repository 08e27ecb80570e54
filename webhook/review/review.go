// Package review runs the policies on files, offline, exactly as the server
// would: every object is a CREATE in its namespace, through every mutating
// policy and then every validating policy. Workloads are reviewed as the pods
// they create, and shown with their pod template as those pods would be
// admitted (a preview: the server never patches workloads).
package review

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	gomodjsonpatch "gomodules.xyz/jsonpatch/v2"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// Entry is the result for one input object. Its JSON field names are a
// contract (review -o json).
type Entry struct {
	Kind      string                     `json:"kind"`
	Namespace string                     `json:"namespace"`
	Name      string                     `json:"name"`
	Allowed   bool                       `json:"allowed"`
	Message   string                     `json:"message"`
	Warnings  []string                   `json:"warnings"`
	Patch     []gomodjsonpatch.Operation `json:"patch"`
	Object    map[string]any             `json:"object"`
	// Source is where the object came from: "FILE:LINE" for a file read as
	// it is, "DIR (kustomize build)" for a kustomize folder,
	// "Kustomization NAMESPACE/NAME: FILE" for what Flux would apply.
	Source string `json:"source"`
	// At is the Document's At: where -o github annotates.
	At string `json:"-"`
	// Findings are the warnings whole, before the admission limits cut
	// Warnings (256 characters each, 4 KiB together): report reads these.
	Findings []string `json:"-"`
}

// Reviewer holds the policies and the cluster context.
type Reviewer struct {
	Set config.Set
	// Namespaces maps a namespace to its labels (from --context and from
	// Namespace objects among the inputs).
	Namespaces map[string]map[string]string
	// Gateways are the Istio Gateways and VirtualServices of --context and
	// of the inputs (gateway-hosts).
	Gateways *policies.GatewayIndex
	// Istio is what Istio's injector will do, for job-proxy: the
	// MutatingWebhookConfigurations and Nodes of --context and the inputs.
	// With no webhook configuration among them the istiod chart's
	// default-revision selectors are assumed; with no Nodes, kubelets new
	// enough for native sidecars (as Istio reads an empty node list).
	Istio *policies.IstioCluster
	// GatewayAPI are the Gateway API Gateways of --context and the inputs.
	GatewayAPI *policies.GatewayAPIIndex
}

// NewReviewer builds a reviewer; mode, when set, overrides every policy that
// is not off (review --mode).
func NewReviewer(cfg *config.Config, mode webhook.Mode, context []Document) *Reviewer {
	set := cfg.Build(nil)
	set.SetOverride(mode)
	r := &Reviewer{Set: set, Namespaces: map[string]map[string]string{}, Gateways: policies.NewGatewayIndex(),
		GatewayAPI: policies.NewGatewayAPIIndex(), Istio: policies.NewIstioCluster(false)}
	set.UseGateways(r.Gateways)
	set.UseGatewayAPI(r.GatewayAPI)
	set.UseIstio(r.Istio)
	r.Learn(context)
	return r
}

// Learn records the cluster objects that policies look up: namespace
// labels, Gateways and VirtualServices of any served version,
// MutatingWebhookConfigurations and Nodes (an object that does not decode
// is left out here; reviewed, it is reported).
func (r *Reviewer) Learn(docs []Document) {
	for _, d := range docs {
		o := d.Object
		switch gk := o.GroupVersionKind().GroupKind(); {
		case o.GetAPIVersion() == "v1" && o.GetKind() == "Namespace":
			r.Namespaces[o.GetName()] = o.GetLabels()
			r.GatewayAPI.SetNamespaceLabels(o.GetName(), o.GetLabels())
		case gk == gatewayKind:
			gw := &istionetworkingv1.Gateway{}
			if decodeInto(o, gw) == nil {
				gw.Namespace = namespaceOf(o)
				r.Gateways.SetGateway(gw)
			}
		case gk == virtualServiceKind:
			vs := &istionetworkingv1.VirtualService{}
			if decodeInto(o, vs) == nil {
				vs.Namespace = namespaceOf(o)
				r.Gateways.SetVirtualService(vs)
			}
		case gk == apiGatewayKind:
			gw := &gatewayv1.Gateway{}
			if decodeInto(o, gw) == nil {
				gw.Namespace = namespaceOf(o)
				r.GatewayAPI.SetGateway(gw)
			}
		case gk == listenerSetKind:
			ls := &gatewayv1.ListenerSet{}
			if decodeInto(o, ls) == nil {
				common, hostnames := policies.ListenerSetRoutes(ls)
				r.GatewayAPI.SetRoute(gk.Kind, namespaceOf(o), o.GetName(), common, hostnames)
			}
		case gk == httpRouteKind || gk == grpcRouteKind || gk == tlsRouteKind:
			// The three share parentRefs and hostnames at the same paths.
			route := &gatewayv1.HTTPRoute{}
			if decodeInto(o, route) == nil {
				r.GatewayAPI.SetRoute(gk.Kind, namespaceOf(o), o.GetName(), route.Spec.CommonRouteSpec, route.Spec.Hostnames)
			}
		case o.GetAPIVersion() == "admissionregistration.k8s.io/v1" && o.GetKind() == "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if decodeInto(o, m) == nil {
				r.Istio.SetWebhookConfiguration(m)
			}
		case o.GetAPIVersion() == "v1" && o.GetKind() == "Node":
			n := &corev1.Node{}
			if decodeInto(o, n) == nil {
				r.Istio.SetNode(n.Name, n.Status.NodeInfo.KubeletVersion)
			}
		}
	}
}

// namespaceOf is where an object is reviewed: its namespace, or "default".
func namespaceOf(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}

func decodeInto(o *unstructured.Unstructured, into any) error {
	raw, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// Review reviews one object.
func (r *Reviewer) Review(ctx context.Context, doc Document) (Entry, error) {
	obj := doc.Object
	ns := obj.GetNamespace()
	if ns == "" && obj.GetKind() != "Namespace" {
		ns = "default"
	}
	name := obj.GetName()
	if name == "" {
		name = obj.GetGenerateName()
	}
	e := Entry{Kind: obj.GetKind(), Namespace: ns, Name: name, Allowed: true, Warnings: []string{}, Patch: []gomodjsonpatch.Operation{}, Object: obj.Object, Source: doc.Source, At: doc.At}
	req := policies.Request{Operation: "CREATE", Namespace: ns, Name: name, NamespaceLabels: r.Namespaces[ns]}

	gvk := obj.GroupVersionKind()
	var templatePath []string
	switch gk := gvk.GroupKind(); {
	case gk.Group == "" && gk.Kind == "Pod":
	case podTemplatePath[gk] != nil:
		templatePath = podTemplatePath[gk]
	case gk == helmReleaseKind:
		return validated(ctx, e, doc, req, r.Set.HelmReleases, &helmv2.HelmRelease{})
	case gk == kustomizationKind:
		return validated(ctx, e, doc, req, r.Set.Kustomizations, &kustomizev1.Kustomization{})
	case gk == virtualServiceKind:
		return validated(ctx, e, doc, req, r.Set.VirtualServices, &istionetworkingv1.VirtualService{})
	case gk == gatewayKind:
		return validated(ctx, e, doc, req, r.Set.Gateways, &istionetworkingv1.Gateway{})
	case gk == apiGatewayKind:
		return validated(ctx, e, doc, req, r.Set.APIGateways, &gatewayv1.Gateway{})
	case gk == httpRouteKind:
		return validated(ctx, e, doc, req, r.Set.HTTPRoutes, &gatewayv1.HTTPRoute{})
	case gk == grpcRouteKind:
		return validated(ctx, e, doc, req, r.Set.GRPCRoutes, &gatewayv1.GRPCRoute{})
	case gk == tlsRouteKind:
		return validated(ctx, e, doc, req, r.Set.TLSRoutes, &gatewayv1.TLSRoute{})
	case gk == listenerSetKind:
		return validated(ctx, e, doc, req, r.Set.ListenerSets, &gatewayv1.ListenerSet{})
	default:
		return e, nil // no policy reads this kind
	}

	pod, err := podOf(obj, templatePath)
	if err != nil {
		return e, fmt.Errorf("%s: %s", doc.Source, err)
	}
	pod.Namespace = ns
	before, err := json.Marshal(pod)
	if err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	d := r.Set.Pods.Mutate(ctx, req, pod)
	d.Merge(r.Set.Pods.Validate(ctx, req, pod))

	e.Allowed, e.Message, e.Warnings, e.Findings = d.Allowed(), d.Message(), webhook.LimitWarnings(d.Warnings), d.Warnings
	if e.Warnings == nil {
		e.Warnings = []string{}
	}
	if !d.Mutated {
		return e, nil
	}
	ops, err := webhook.Patch(before, pod)
	if err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	if templatePath != nil {
		prefix := "/" + strings.Join(templatePath, "/")
		for i := range ops {
			ops[i].Path = prefix + ops[i].Path
		}
	}
	sortOps(ops)
	patched, err := apply(obj, ops)
	if err != nil {
		return e, fmt.Errorf("%s: apply patch: %w", doc.Source, err)
	}
	// The patch above is from the typed pod, whose metadata always exists; a
	// pod template without metadata (usual in Jobs) has no parent for its
	// "add .../metadata/annotations". Report the patch from the input itself.
	in, err := json.Marshal(obj.Object)
	if err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	out, err := json.Marshal(patched)
	if err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	if ops, err = gomodjsonpatch.CreatePatch(in, out); err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	sortOps(ops)
	e.Patch, e.Object = ops, patched
	return e, nil
}

// Kinds reviewed by validating policies only. Any served version is read
// into the Go type of the version the server's webhooks ask for, as the
// apiserver does for them (matchPolicy: Equivalent).
var (
	helmReleaseKind    = schema.GroupKind{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}
	kustomizationKind  = schema.GroupKind{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}
	virtualServiceKind = schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	gatewayKind        = schema.GroupKind{Group: "networking.istio.io", Kind: "Gateway"}
	apiGatewayKind     = schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "Gateway"}
	httpRouteKind      = schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}
	grpcRouteKind      = schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "GRPCRoute"}
	tlsRouteKind       = schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "TLSRoute"}
	listenerSetKind    = schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "ListenerSet"}
)

// validated runs a chain's validators on the object decoded as T.
func validated[T webhook.Object](ctx context.Context, e Entry, doc Document, req policies.Request, chain *webhook.Chain[T], obj T) (Entry, error) {
	raw, err := json.Marshal(doc.Object.Object)
	if err != nil {
		return e, fmt.Errorf("%s: %w", doc.Source, err)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return e, fmt.Errorf("%s: not a valid %s: %s", doc.Source, e.Kind, err)
	}
	d := chain.Validate(ctx, req, obj)
	e.Allowed, e.Message, e.Findings = d.Allowed(), d.Message(), d.Warnings
	if w := webhook.LimitWarnings(d.Warnings); w != nil {
		e.Warnings = w
	}
	return e, nil
}

// podOf is the pod an object is or would create. For a workload it is the
// pod template; a Job's or CronJob's pods get the Job's owner reference and
// job-name label, as the Job controller sets them, so they count as Job pods.
func podOf(obj *unstructured.Unstructured, templatePath []string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if templatePath == nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, pod); err != nil {
			return nil, fmt.Errorf("not a valid Pod: %s", err)
		}
		return pod, nil
	}
	raw, found, err := unstructured.NestedMap(obj.Object, templatePath...)
	if err != nil || !found {
		return nil, fmt.Errorf("%s has no pod template at %s", obj.GetKind(), strings.Join(templatePath, "."))
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("%s: not a valid pod template: %s", strings.Join(templatePath, "."), err)
	}
	pod.ObjectMeta, pod.Spec = tmpl.ObjectMeta, tmpl.Spec
	if pod.Name == "" {
		pod.GenerateName = obj.GetName() + "-"
	}
	if makesJobPods(obj.GroupVersionKind().GroupKind()) {
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[batchv1.JobNameLabel] = obj.GetName()
		pod.OwnerReferences = append(pod.OwnerReferences, metav1.OwnerReference{
			APIVersion: "batch/v1", Kind: "Job", Name: obj.GetName(), Controller: ptr.To(true),
		})
	}
	return pod, nil
}

func apply(obj *unstructured.Unstructured, ops []gomodjsonpatch.Operation) (map[string]any, error) {
	doc, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	opts := jsonpatch.NewApplyOptions()
	opts.EnsurePathExistsOnAdd = true
	out, err := p.ApplyWithOptions(doc, opts)
	if err != nil {
		return nil, err
	}
	// Integers stay int64 (float64 would round those above 2^53).
	var m map[string]any
	return m, kjson.UnmarshalCaseSensitivePreserveInts(out, &m)
}
