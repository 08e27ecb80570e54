package config

import (
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// Set is every policy built from the configuration, per kind of object, in
// the order they run. This is the one place policies are listed.
type Set struct {
	Pods            *webhook.Chain[*corev1.Pod]
	HelmReleases    *webhook.Chain[*helmv2.HelmRelease]
	Kustomizations  *webhook.Chain[*kustomizev1.Kustomization]
	VirtualServices *webhook.Chain[*istionetworkingv1.VirtualService]
	Gateways        *webhook.Chain[*istionetworkingv1.Gateway]
	// The Gateway API (gateway.networking.k8s.io/v1).
	APIGateways  *webhook.Chain[*gatewayv1.Gateway]
	HTTPRoutes   *webhook.Chain[*gatewayv1.HTTPRoute]
	GRPCRoutes   *webhook.Chain[*gatewayv1.GRPCRoute]
	TLSRoutes    *webhook.Chain[*gatewayv1.TLSRoute]
	ListenerSets *webhook.Chain[*gatewayv1.ListenerSet]
	// Metrics is what Build was given (the KindFollower's gauge).
	Metrics *webhook.Metrics
}

// Build makes the policy set; metrics may be nil.
func (c *Config) Build(metrics *webhook.Metrics) Set {
	images := c.Policies.ImageRewrite.ImageConfig
	flux := policies.NewFluxPlacement(c.Policies.FluxPlacement.FluxPlacementConfig)
	gatewayHosts := policies.NewGatewayHosts(c.Policies.GatewayHosts.GatewayHostsConfig)
	return Set{
		Metrics: metrics,
		Pods: &webhook.Chain[*corev1.Pod]{
			Mutators: []policies.Mutator[*corev1.Pod]{
				// job-proxy first: image-rewrite then mirrors the image of
				// the init container it adds.
				policies.NewJobProxy(c.Policies.JobProxy.JobProxyConfig),
				policies.NewImageRewrite(images),
			},
			Validators: []policies.Validator[*corev1.Pod]{
				policies.NewImageRegistry(images),
			},
			Modes:   c.ModeOf,
			Metrics: metrics,
		},
		HelmReleases: &webhook.Chain[*helmv2.HelmRelease]{
			Validators: []policies.Validator[*helmv2.HelmRelease]{flux.HelmReleases()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		Kustomizations: &webhook.Chain[*kustomizev1.Kustomization]{
			Validators: []policies.Validator[*kustomizev1.Kustomization]{flux.Kustomizations()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		// gateway-hosts reads Gateways through Lookups, set by UseGateways.
		VirtualServices: &webhook.Chain[*istionetworkingv1.VirtualService]{
			Validators: []policies.Validator[*istionetworkingv1.VirtualService]{gatewayHosts.VirtualServices()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		Gateways: &webhook.Chain[*istionetworkingv1.Gateway]{
			Validators: []policies.Validator[*istionetworkingv1.Gateway]{gatewayHosts.Gateways()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		APIGateways: &webhook.Chain[*gatewayv1.Gateway]{
			Validators: []policies.Validator[*gatewayv1.Gateway]{gatewayHosts.APIGateways()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		HTTPRoutes: &webhook.Chain[*gatewayv1.HTTPRoute]{
			Validators: []policies.Validator[*gatewayv1.HTTPRoute]{gatewayHosts.HTTPRoutes()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		GRPCRoutes: &webhook.Chain[*gatewayv1.GRPCRoute]{
			Validators: []policies.Validator[*gatewayv1.GRPCRoute]{gatewayHosts.GRPCRoutes()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		TLSRoutes: &webhook.Chain[*gatewayv1.TLSRoute]{
			Validators: []policies.Validator[*gatewayv1.TLSRoute]{gatewayHosts.TLSRoutes()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
		ListenerSets: &webhook.Chain[*gatewayv1.ListenerSet]{
			Validators: []policies.Validator[*gatewayv1.ListenerSet]{gatewayHosts.ListenerSets()},
			Modes:      c.ModeOf,
			Metrics:    metrics,
		},
	}
}

// SetOverride makes every policy that is not off run in mode (review --mode).
func (s Set) SetOverride(mode webhook.Mode) {
	s.Pods.Override = mode
	s.HelmReleases.Override = mode
	s.Kustomizations.Override = mode
	s.VirtualServices.Override = mode
	s.Gateways.Override = mode
	s.APIGateways.Override = mode
	s.HTTPRoutes.Override = mode
	s.GRPCRoutes.Override = mode
	s.TLSRoutes.Override = mode
	s.ListenerSets.Override = mode
}

// Endpoints are the server's admission handlers, one per policy at
// "/<policy>". A policy of several kinds (flux-placement, gateway-hosts) has
// one endpoint that hands each request to the handler of its kind.
func (s Set) Endpoints(dec admission.Decoder, ns webhook.NamespaceLabels) map[string]admission.Handler {
	byPath := map[string]webhook.ByKind{}
	add := func(gvk schema.GroupVersionKind, m map[string]admission.Handler) {
		for path, h := range m {
			if byPath[path] == nil {
				byPath[path] = webhook.ByKind{}
			}
			byPath[path][gvk.GroupKind()] = h
		}
	}
	add(corev1.SchemeGroupVersion.WithKind("Pod"), webhook.Endpoints(s.Pods, func() *corev1.Pod { return &corev1.Pod{} }, dec, ns))
	add(helmv2.GroupVersion.WithKind(helmv2.HelmReleaseKind), webhook.Endpoints(s.HelmReleases, func() *helmv2.HelmRelease { return &helmv2.HelmRelease{} }, dec, ns))
	add(kustomizev1.GroupVersion.WithKind(kustomizev1.KustomizationKind), webhook.Endpoints(s.Kustomizations, func() *kustomizev1.Kustomization { return &kustomizev1.Kustomization{} }, dec, ns))
	add(istionetworkingv1.SchemeGroupVersion.WithKind("VirtualService"), webhook.Endpoints(s.VirtualServices, func() *istionetworkingv1.VirtualService { return &istionetworkingv1.VirtualService{} }, dec, ns))
	add(istionetworkingv1.SchemeGroupVersion.WithKind("Gateway"), webhook.Endpoints(s.Gateways, func() *istionetworkingv1.Gateway { return &istionetworkingv1.Gateway{} }, dec, ns))
	add(gatewayv1.SchemeGroupVersion.WithKind("Gateway"), webhook.Endpoints(s.APIGateways, func() *gatewayv1.Gateway { return &gatewayv1.Gateway{} }, dec, ns))
	add(gatewayv1.SchemeGroupVersion.WithKind("HTTPRoute"), webhook.Endpoints(s.HTTPRoutes, func() *gatewayv1.HTTPRoute { return &gatewayv1.HTTPRoute{} }, dec, ns))
	add(gatewayv1.SchemeGroupVersion.WithKind("GRPCRoute"), webhook.Endpoints(s.GRPCRoutes, func() *gatewayv1.GRPCRoute { return &gatewayv1.GRPCRoute{} }, dec, ns))
	add(gatewayv1.SchemeGroupVersion.WithKind("TLSRoute"), webhook.Endpoints(s.TLSRoutes, func() *gatewayv1.TLSRoute { return &gatewayv1.TLSRoute{} }, dec, ns))
	add(gatewayv1.SchemeGroupVersion.WithKind("ListenerSet"), webhook.Endpoints(s.ListenerSets, func() *gatewayv1.ListenerSet { return &gatewayv1.ListenerSet{} }, dec, ns))
	out := map[string]admission.Handler{}
	for path, kinds := range byPath {
		out[path] = kinds.Handler()
	}
	return out
}

// Scheme knows every kind the policies read.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		helmv2.AddToScheme,
		kustomizev1.AddToScheme,
		istionetworkingv1.AddToScheme,
		gatewayv1.Install,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
