package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/kube"
)

const hub = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker.io/istio"

func node(name, kubelet string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubelet}},
	}
}

func review(t *testing.T, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appPod(labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		// Namespace selection (istio-injection=enabled) is the MWC's
		// namespaceSelector's job; the handler only sees the pod.
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "demo", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

// doInject posts the review to /inject on an httptest server backed by
// inject.NewWebhook and returns the response and the patched pod.
func doInject(t *testing.T, cfgDir string, client kube.Client, pod *corev1.Pod) (*admissionv1.AdmissionResponse, *corev1.Pod) {
	t.Helper()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	mux, _, err := newInjector(cfgDir, "", client, stop)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/inject", "application/json", bytes.NewReader(review(t, pod)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	r := out.Response
	if r == nil || !r.Allowed || r.UID != "uid-1" {
		t.Fatalf("bad response: %s", body)
	}
	if len(r.Patch) == 0 {
		return r, nil
	}
	if os.Getenv("DUMP_PATCH") != "" {
		_ = os.WriteFile(filepath.Join(os.Getenv("DUMP_PATCH"), t.Name()[strings.LastIndex(t.Name(), "/")+1:]+".json"), r.Patch, 0o644)
	}
	orig, _ := json.Marshal(pod)
	p, err := jsonpatch.DecodePatch(r.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(orig)
	if err != nil {
		t.Fatal(err)
	}
	var res corev1.Pod
	if err := json.Unmarshal(patched, &res); err != nil {
		t.Fatal(err)
	}
	return r, &res
}

func find(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func TestInject(t *testing.T) {
	cfgDir := t.TempDir()
	if err := render1(cfgDir, renderOpts{hub: hub, tag: "1.31-dev", namespace: "istio-system"}); err != nil {
		t.Fatal(err)
	}
	saved := features.EnableNativeSidecars
	t.Cleanup(func() { features.EnableNativeSidecars = saved })

	cases := []struct {
		name   string
		mode   features.NativeSidecarMode
		client kube.Client
		labels map[string]string
		// want: "native", "classic" or "none"
		want string
	}{
		{"auto, nodes 1.37 -> native", features.NativeSidecarModeAuto,
			kube.NewFakeClient(node("n1", "v1.37.2"), node("n2", "v1.34.0")), nil, "native"},
		{"auto, one node 1.32 -> classic", features.NativeSidecarModeAuto,
			kube.NewFakeClient(node("n1", "v1.37.2"), node("n2", "v1.32.4")), nil, "classic"},
		{"auto, no Node objects at all -> native", features.NativeSidecarModeAuto,
			kube.NewFakeClient(), nil, "native"},
		{"auto, no kube client -> classic", features.NativeSidecarModeAuto, nil, nil, "classic"},
		{"false -> classic", features.NativeSidecarModeDisabled,
			kube.NewFakeClient(node("n1", "v1.37.2")), nil, "classic"},
		{"true -> native", features.NativeSidecarModeEnabled, nil, nil, "native"},
		{"sidecar.istio.io/inject=false -> skipped", features.NativeSidecarModeAuto,
			kube.NewFakeClient(node("n1", "v1.37.2")), map[string]string{"sidecar.istio.io/inject": "false"}, "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			features.EnableNativeSidecars = tc.mode
			_, pod := doInject(t, cfgDir, tc.client, appPod(tc.labels))
			if tc.want == "none" {
				if pod != nil {
					t.Fatalf("expected no patch, got pod with %d containers", len(pod.Spec.Containers))
				}
				return
			}
			if pod == nil {
				t.Fatal("no patch")
			}
			if find(pod.Spec.InitContainers, "istio-init") == nil {
				t.Errorf("no istio-init initContainer")
			}
			initProxy := find(pod.Spec.InitContainers, "istio-proxy")
			proxy := find(pod.Spec.Containers, "istio-proxy")
			switch tc.want {
			case "native":
				if initProxy == nil || proxy != nil {
					t.Fatalf("want istio-proxy as native sidecar initContainer; init=%v containers=%v", initProxy != nil, proxy != nil)
				}
				if initProxy.RestartPolicy == nil || *initProxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
					t.Fatalf("native istio-proxy restartPolicy = %v", initProxy.RestartPolicy)
				}
				proxy = initProxy
			case "classic":
				if initProxy != nil || proxy == nil {
					t.Fatalf("want istio-proxy as classic container; init=%v containers=%v", initProxy != nil, proxy != nil)
				}
			}
			if want := hub + "/proxyv2:1.31-dev"; proxy.Image != want {
				t.Errorf("image %q, want %q", proxy.Image, want)
			}
			if pod.Annotations["sidecar.istio.io/status"] == "" {
				t.Errorf("no sidecar.istio.io/status annotation")
			}
			t.Logf("%s: image=%s init=%d containers=%d", tc.want, proxy.Image, len(pod.Spec.InitContainers), len(pod.Spec.Containers))
		})
	}
}
