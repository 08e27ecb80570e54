// Package handlers builds the admission handlers the benchmarks measure:
// platform-webhook's own, exactly as `serve` registers them (config.Set's
// endpoints), answered against the corpus's cluster (its namespaces and
// Gateways); and the baseline's, which decodes the same object and allows it.
package handlers

import (
	"context"
	"net/http"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// Ours returns platform-webhook's handlers by path, built from the config
// file as serve builds them, with metrics into a registry of their own, the
// namespace labels of corpus.Namespaces and the Gateways of
// corpus.Gateways(gatewayHosts) in the index gateway-hosts reads.
func Ours(cfg *config.Config, metrics *webhook.Metrics, gatewayHosts int) (map[string]admission.Handler, error) {
	scheme, err := config.Scheme()
	if err != nil {
		return nil, err
	}
	set := cfg.Build(metrics)
	idx := policies.NewGatewayIndex()
	for _, gw := range corpus.Gateways(gatewayHosts) {
		idx.SetGateway(gw)
	}
	set.UseGateways(idx)
	return set.Endpoints(admission.NewDecoder(scheme), NamespaceLabels()), nil
}

// NamespaceLabels looks namespaces up in corpus.Namespaces, as the server's
// informer cache would.
func NamespaceLabels() webhook.NamespaceLabels {
	labels := map[string]map[string]string{}
	for _, ns := range corpus.Namespaces() {
		labels[ns.Name] = ns.Labels
	}
	return func(_ context.Context, name string) (map[string]string, error) { return labels[name], nil }
}

// Baseline returns, for every path in paths, a handler that decodes the
// request's object into its Go type with dec, as platform-webhook's handlers
// do first, and allows it: the least any webhook built on controller-runtime
// does with a request.
func Baseline(dec admission.Decoder, paths []string) map[string]admission.Handler {
	h := &decodeAllow{decoder: dec, types: map[schema.GroupKind]func() client.Object{
		{Kind: "Pod"}: func() client.Object { return &corev1.Pod{} },
		{Group: helmv2.GroupVersion.Group, Kind: helmv2.HelmReleaseKind}:             func() client.Object { return &helmv2.HelmRelease{} },
		{Group: kustomizev1.GroupVersion.Group, Kind: kustomizev1.KustomizationKind}: func() client.Object { return &kustomizev1.Kustomization{} },
		{Group: istionetworkingv1.SchemeGroupVersion.Group, Kind: "VirtualService"}:  func() client.Object { return &istionetworkingv1.VirtualService{} },
		{Group: istionetworkingv1.SchemeGroupVersion.Group, Kind: "Gateway"}:         func() client.Object { return &istionetworkingv1.Gateway{} },
	}}
	out := map[string]admission.Handler{}
	for _, p := range paths {
		out[p] = h
	}
	return out
}

// Serve is a handler as the webhook server serves it over HTTP: the body
// read as an AdmissionReview, the response written as one, panics recovered.
func Serve(h admission.Handler) http.Handler {
	return &admission.Webhook{Handler: h, RecoverPanic: ptr.To(true)}
}

type decodeAllow struct {
	decoder admission.Decoder
	types   map[schema.GroupKind]func() client.Object
}

func (d *decodeAllow) Handle(_ context.Context, req admission.Request) admission.Response {
	newObj, ok := d.types[schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}]
	if !ok {
		return admission.Errored(http.StatusBadRequest, errUnknownKind)
	}
	if err := d.decoder.Decode(req, newObj()); err != nil {
		return admission.Errored(http.StatusBadRequest, errUndecodable)
	}
	return admission.Allowed("")
}

type constError string

func (e constError) Error() string { return string(e) }

const (
	errUnknownKind = constError("the baseline does not decode this kind")
	errUndecodable = constError("the object could not be decoded")
)
