package charts

import (
	"context"
	"encoding/base64"
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	fluxchartutil "github.com/fluxcd/pkg/chartutil"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// Objects finds the objects of the repository (and of --vars) that a
// release reads: its sources, and the ConfigMaps and Secrets of valuesFrom.
type Objects interface {
	Get(kind, namespace, name string) *unstructured.Unstructured
}

// values composes a HelmRelease's values over the chart's, as
// helm-controller does: valuesFrom in order, then spec.values, with Flux's
// own ChartValuesFromReferences (github.com/fluxcd/pkg/chartutil values.go,
// what helm-controller's reconcile calls; valuesKey default "values.yaml",
// targetPath through Helm's strvals, optional references skipped when
// missing). The chart's own values (with chart.spec.valuesFiles merged in,
// see chartValues) are coalesced under these by Helm at render time.
func values(ctx context.Context, hr *helmv2.HelmRelease, objs Objects) (map[string]any, error) {
	c, err := valuesClient(hr, objs)
	if err != nil {
		return nil, err
	}
	v, err := fluxchartutil.ChartValuesFromReferences(ctx, logr.Discard(), c, hr.Namespace, hr.GetValues(), hr.Spec.ValuesFrom...)
	if err != nil {
		return nil, fmt.Errorf("valuesFrom: %s", err)
	}
	return v, nil
}

// valuesClient is an in-memory client holding the ConfigMaps and Secrets
// the release's valuesFrom names, found in the repository or --vars, for
// ChartValuesFromReferences to read. A Secret's stringData counts as data,
// as the apiserver stores it.
func valuesClient(hr *helmv2.HelmRelease, objs Objects) (client.Client, error) {
	var found []client.Object
	for _, ref := range hr.Spec.ValuesFrom {
		o := objs.Get(ref.Kind, hr.Namespace, ref.Name)
		if o == nil {
			continue
		}
		switch ref.Kind {
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cm); err != nil {
				return nil, fmt.Errorf("valuesFrom: ConfigMap %s/%s: %s", hr.Namespace, ref.Name, err)
			}
			cm.Namespace = hr.Namespace
			found = append(found, cm)
		case "Secret":
			sec, err := SecretFromManifest(o)
			if err != nil {
				return nil, fmt.Errorf("valuesFrom: Secret %s/%s: %s", hr.Namespace, ref.Name, err)
			}
			sec.Namespace = hr.Namespace
			found = append(found, sec)
		}
	}
	return fake.NewClientBuilder().WithScheme(coreScheme).WithObjects(found...).Build(), nil
}

// coreScheme knows ConfigMaps and Secrets.
var coreScheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	_ = corev1.AddToScheme(s)
	return s
}()

// SecretFromManifest decodes a Secret manifest as the apiserver stores it:
// data base64 as written, stringData merged in.
func SecretFromManifest(o *unstructured.Unstructured) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	sec.Name = o.GetName()
	sec.Data = map[string][]byte{}
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("data.%s is not base64", k)
		}
		sec.Data[k] = b
	}
	stringData, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
	for k, v := range stringData {
		sec.Data[k] = []byte(v)
	}
	return sec, nil
}
