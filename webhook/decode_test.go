package webhook

import (
	"reflect"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

// countingDecoder counts the objects the admission decoder decodes.
type countingDecoder struct {
	admission.Decoder
	calls int
}

func (d *countingDecoder) Decode(req admission.Request, into runtime.Object) error {
	d.calls++
	return d.Decoder.Decode(req, into)
}

func (d *countingDecoder) DecodeRaw(raw runtime.RawExtension, into runtime.Object) error {
	d.calls++
	return d.Decoder.DecodeRaw(raw, into)
}

func podRequest(raw string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Object: runtime.RawExtension{Raw: []byte(raw)}}}
}

// After the first pod, pods are decoded without the decoder, into the same
// object; anything the decoder would read differently or refuse goes
// through it, with its answer.
func TestDecode(t *testing.T) {
	dec := admission.NewDecoder(clientgoscheme.Scheme)
	counting := &countingDecoder{Decoder: dec}
	h := &Handler[*corev1.Pod]{New: func() *corev1.Pod { return &corev1.Pod{} }, Decoder: counting}

	pod9k := string(corpus.Get("pod-9k-rewrite").Object())
	for i, c := range []struct {
		name, raw  string
		viaDecoder bool // the decoder decodes it (first, or not a v1 Pod as written)
		wantErr    bool
	}{
		{"first pod: learns v1 Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`, true, false},
		{"9 KB pod", pod9k, false, false},
		{"another pod", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"b","labels":{"x":"1"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`, false, false},
		{"a ConfigMap", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"b"}}`, true, true},
		{"no kind: the decoder takes T's", `{"apiVersion":"v1","metadata":{"name":"a"}}`, true, false},
		{"no apiVersion", `{"kind":"Pod","metadata":{"name":"a"}}`, true, false},
		{"another version", `{"apiVersion":"v2","kind":"Pod","metadata":{"name":"a"}}`, true, true},
		{"keys in another case", `{"APIVERSION":"v1","KIND":"Pod","metadata":{"name":"a"}}`, true, false},
		{"spec of the wrong type", `{"apiVersion":"v1","kind":"Pod","spec":["x"]}`, true, true},
		{"YAML: the decoder reads it too", "apiVersion: v1\nkind: Pod\nmetadata: {name: from-yaml}", true, false},
		{"not JSON", `{"apiVersion":`, true, true},
		{"empty", ``, true, true},
	} {
		before := counting.calls
		got, err := h.decode(podRequest(c.raw))
		if (err != nil) != c.wantErr {
			t.Errorf("%d %s: error %v, want error %v", i, c.name, err, c.wantErr)
		}
		if via := counting.calls > before; via != c.viaDecoder {
			t.Errorf("%d %s: decoded by the decoder %v, want %v", i, c.name, via, c.viaDecoder)
		}
		want := &corev1.Pod{}
		wantErr := dec.Decode(podRequest(c.raw), want)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("%d %s: error %v, the decoder's %v", i, c.name, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%d %s: decoded %+v, the decoder decodes %+v", i, c.name, got, want)
		}
	}
}
