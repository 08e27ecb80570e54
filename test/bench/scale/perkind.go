package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flux-infra/platform-webhook/test/bench/scale/objects"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// kindBytes is what the cache keeps per object of a kind, before and after
// the cache transform.
type kindBytes struct {
	kind          string
	json          int // the object's size as the apiserver sends it
	before, after int64
}

// perKind measures in this process the heap an informer's store keeps per
// object of each kind: n objects decoded from their JSON (as the informer
// gets them, with the uid, resourceVersion and timestamps the apiserver
// adds), transformed as the server's cache does, kept in a map by
// namespace/name (the store). Before is the cache of the parent commit (managed
// fields stripped, which these objects have none of, Nodes slimmed to
// their kubelet version); after is config.CacheTransform.
func perKind(n int) ([]kindBytes, error) {
	ca, err := objects.CABundle()
	if err != nil {
		return nil, err
	}
	kinds := []struct {
		kind string
		make func(i int) client.Object
		into func() client.Object
	}{
		{"Namespace (metadata)", func(i int) client.Object { return objects.Namespace(i) },
			func() client.Object { return &metav1.PartialObjectMetadata{} }},
		{"Node", func(i int) client.Object { return objects.Node(i) }, func() client.Object { return &corev1.Node{} }},
		{"Istio Gateway", func(i int) client.Object { return objects.IstioGateway(i) }, func() client.Object { return &istionetworkingv1.Gateway{} }},
		{"Gateway API Gateway", func(i int) client.Object { return objects.APIGateway(i) }, func() client.Object { return &gatewayv1.Gateway{} }},
		{"VirtualService", func(i int) client.Object { return objects.VirtualService(i) }, func() client.Object { return &istionetworkingv1.VirtualService{} }},
		{"HTTPRoute", func(i int) client.Object { return objects.HTTPRoute(i) }, func() client.Object { return &gatewayv1.HTTPRoute{} }},
		{"MutatingWebhookConfiguration", func(i int) client.Object { return objects.WebhookConfiguration(i, ca) },
			func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} }},
	}
	var out []kindBytes
	for _, k := range kinds {
		wire := make([][]byte, n)
		for i := range n {
			o := k.make(i)
			o.SetUID(types.UID(fmt.Sprintf("6f1c2a3b-%04x-4000-8000-%012x", i%65536, i)))
			o.SetResourceVersion(fmt.Sprint(1000000 + i))
			o.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
			o.SetGeneration(1)
			if wire[i], err = json.Marshal(o); err != nil {
				return nil, err
			}
		}
		decode := func(i int) client.Object {
			o := k.into()
			if err = json.Unmarshal(wire[i], o); err != nil {
				panic(err)
			}
			return o
		}
		// A type's first decode fills the decoders' caches (field tables):
		// not the store's, so done before measuring.
		config.CacheTransform(decode(0))
		before := retained(n, func(i int) any {
			o := decode(i)
			if _, node := o.(*corev1.Node); node {
				s, _ := config.CacheTransform(o) // the parent commit's slimNode kept the same
				return s
			}
			return o
		})
		after := retained(n, func(i int) any { s, _ := config.CacheTransform(decode(i)); return s })
		out = append(out, kindBytes{kind: k.kind, json: len(wire[0]), before: before, after: after})
	}
	return out, nil
}

// retained is the heap kept per object by a map of n objects made by mk.
func retained(n int, mk func(i int) any) int64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	store := make(map[string]any, n)
	for i := range n {
		o := mk(i)
		m := o.(metav1.Object)
		store[m.GetNamespace()+"/"+m.GetName()] = o
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(store)
	return (int64(m1.HeapAlloc) - int64(m0.HeapAlloc)) / int64(n)
}
