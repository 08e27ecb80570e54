package webhook

import (
	"context"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/policies"
)

// sidecarAdder appends a container: with scope, it breaks its promise
// (the array it walks with "[*]" grows).
type sidecarAdder struct{}

func (sidecarAdder) Name() string { return "sidecar-adder" }
func (sidecarAdder) Mutate(_ policies.Request, pod *corev1.Pod) []string {
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar", Image: "sidecar:1"})
	pod.Spec.Containers[0].Image = "mirror/" + pod.Spec.Containers[0].Image
	return []string{"add a sidecar"}
}

type scopedSidecarAdder struct{ sidecarAdder }

func (scopedSidecarAdder) Scope() []string { return []string{"spec.containers[*].image"} }

// The handler's patch is the full diff whether the mutator has no scope
// (deep copy), or leaves the shape of its scope (the object decoded again
// and compared whole).
func TestHandlerPatchWithoutScope(t *testing.T) {
	raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a"},` +
		`"spec":{"containers":[{"name":"app","image":"nginx:1.27","unknownToTheTypes":true}]}}`)
	want := []string{
		// The value as encoding/json writes a Container: members in field order.
		`{"op":"add","path":"/spec/containers/1","value":{"name":"sidecar","image":"sidecar:1","resources":{}}}`,
		`{"op":"replace","path":"/spec/containers/0/image","value":"mirror/nginx:1.27"}`,
	}
	for _, m := range []policies.Mutator[*corev1.Pod]{sidecarAdder{}, scopedSidecarAdder{}} {
		h := &Handler[*corev1.Pod]{
			Chain:    &Chain[*corev1.Pod]{Mutators: []policies.Mutator[*corev1.Pod]{m}},
			Mutating: true,
			New:      func() *corev1.Pod { return &corev1.Pod{} },
			Decoder:  admission.NewDecoder(clientgoscheme.Scheme),
		}
		_, scoped := m.(policies.Scoped)
		for range 2 { // the first pod through the decoder, the second not
			resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u",
				Operation: admissionv1.Create, Namespace: "a", Name: "p", Object: runtime.RawExtension{Raw: raw}}})
			var got []string
			for _, op := range resp.Patches {
				got = append(got, op.Json())
			}
			slices.Sort(got)
			if !resp.Allowed || !slices.Equal(got, want) {
				t.Errorf("scoped %v: allowed %v, patch\n  %q\nwant\n  %q", scoped, resp.Allowed, got, want)
			}
		}
		if scoped && h.scope == nil {
			t.Errorf("the scoped mutator's scope was not compiled")
		}
	}
}
