package policies

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const jobProxyTestdata = "testdata/job-proxy"

// Namespace labels of the cases.
var (
	meshRevision  = map[string]string{"istio.io/rev": "1-24"}
	meshInjection = map[string]string{"istio-injection": "enabled"}
)

// jobProxyConfig is a config for a cluster whose istiod runs
// ENABLE_NATIVE_SIDECARS=false: Istio's proxies are regular containers, the
// case job-proxy acts on.
func jobProxyConfig(strategy JobProxyStrategy, nativeSidecars bool) JobProxyConfig {
	c := JobProxyConfig{Strategy: strategy, NativeSidecars: nativeSidecars, IstioNativeSidecars: IstioNativeSidecarsFalse}
	c.Default()
	return c
}

// classic is cfg on a cluster whose istiod runs ENABLE_NATIVE_SIDECARS=false.
func classic(cfg JobProxyConfig) JobProxyConfig {
	cfg.IstioNativeSidecars = IstioNativeSidecarsFalse
	return cfg
}

// nodes is a cluster with Nodes of these kubelet versions (node-0, node-1...).
func nodes(kubeletVersions ...string) *IstioCluster {
	c := NewIstioCluster(false)
	for i, v := range kubeletVersions {
		c.SetNode(fmt.Sprintf("node-%d", i), v)
	}
	return c
}

// oldKubelets is a cluster whose kubelets predate native sidecars (1.28).
var oldKubelets = nodes("v1.28.15-eks-a737599", "v1.31.2")

// The wrapped container's line, and the init container's.
const (
	addInstall = `add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"`
	annotate   = `annotate the pod sidecar.istio.io/nativeSidecar: "true" so istio-proxy starts first and stops last`
)

func wrapLine(name string) string {
	return `wrap container "` + name + `" to wait for istio-proxy and stop it on exit`
}

// jobProxyCases is each case folder under testdata/job-proxy: the request,
// the config, and what Mutate and Refuse return, written by hand. The patch
// is in the folder's patch.json.
var jobProxyCases = map[string]struct {
	req     Request
	cfg     JobProxyConfig
	lines   []string
	refusal []string
}{
	"job-wrapped": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig("", false), lines: []string{addInstall, wrapLine("migrate")},
	},
	"already-wrapped": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig("", false),
	},
	"cronjob-on-failure": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshInjection},
		cfg: jobProxyConfig(JobProxyWrapper, false), lines: []string{addInstall, wrapLine("report"), wrapLine("upload")},
	},
	"istio-injected": {
		req: Request{Operation: "CREATE", Namespace: "tenant-b"},
		cfg: jobProxyConfig(JobProxyWrapper, false), lines: []string{addInstall, wrapLine("backup")},
	},
	"not-a-job": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig(JobProxyWrapper, false),
	},
	"no-injection": {
		req: Request{Operation: "CREATE", Namespace: "tenant-c"},
		cfg: jobProxyConfig(JobProxyWrapper, false),
	},
	"inject-false": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig(JobProxyWrapper, false),
	},
	"native-proxy": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig(JobProxyWrapper, false),
	},
	"native-strategy": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig(JobProxyNative, false), lines: []string{annotate},
	},
	"native-too-late": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg: jobProxyConfig(JobProxyNative, false), lines: []string{addInstall, wrapLine("migrate")},
	},
	"args-only-native": {
		req:   Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision},
		cfg:   jobProxyConfig(JobProxyWrapper, true),
		lines: []string{`annotate the pod sidecar.istio.io/nativeSidecar: "true" (container "notify" has no command to wrap)`},
	},
	"args-only-denied": {
		req: Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision, Istio: oldKubelets},
		cfg: jobProxyConfig(JobProxyWrapper, false),
		refusal: []string{
			`spec.containers[1].command: container "notify" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)`,
			`spec.containers[2].command: container "cleanup" has no command, so it cannot be wrapped to wait for istio-proxy (set command and args to the image's ENTRYPOINT and CMD)`,
		},
	},
}

// TestJobProxyGolden runs job-proxy on each testdata/job-proxy/<case>/pod.yaml:
// the lines and the refusals are the case's, the patch is patch.json (-update
// rewrites it; review the diff by hand).
func TestJobProxyGolden(t *testing.T) {
	dirs := jobProxyCaseDirs(t, jobProxyTestdata)
	var cases []string
	for name := range jobProxyCases {
		cases = append(cases, name)
	}
	slices.Sort(cases)
	if !slices.Equal(dirs, cases) {
		t.Fatalf("case folders %q do not match the cases in the test %q", dirs, cases)
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			tc := jobProxyCases[name]
			dir := filepath.Join(jobProxyTestdata, name)
			pod := imageReadPod(t, filepath.Join(dir, "pod.yaml"))
			if pod.Namespace != tc.req.Namespace {
				t.Fatalf("pod.yaml namespace %q, request namespace %q", pod.Namespace, tc.req.Namespace)
			}
			policy := NewJobProxy(tc.cfg)

			var refusal []string
			for _, v := range policy.Refuse(tc.req, pod.DeepCopy()) {
				refusal = append(refusal, v.String())
			}
			if !reflect.DeepEqual(refusal, tc.refusal) {
				t.Errorf("Refuse()\n got %q\nwant %q", refusal, tc.refusal)
			}
			mutated := pod.DeepCopy()
			if lines := policy.Mutate(tc.req, mutated); !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("Mutate() lines\n got %q\nwant %q", lines, tc.lines)
			}
			imageGolden(t, filepath.Join(dir, "patch.json"), imagePatch(t, pod, mutated))
		})
	}
}

// jobProxyCaseDirs lists the case folders of a testdata folder.
func jobProxyCaseDirs(t *testing.T, root string) []string {
	t.Helper()
	entries, err := filepath.Glob(filepath.Join(root, "*", "pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, filepath.Base(filepath.Dir(e)))
	}
	slices.Sort(dirs)
	return dirs
}

// TestJobProxyWrappedPod: job-wrapped becomes exactly already-wrapped, a pod
// written by hand.
func TestJobProxyWrappedPod(t *testing.T) {
	pod := imageReadPod(t, filepath.Join(jobProxyTestdata, "job-wrapped", "pod.yaml"))
	want := imageReadPod(t, filepath.Join(jobProxyTestdata, "already-wrapped", "pod.yaml"))
	NewJobProxy(classic(JobProxyConfig{})).Mutate(Request{Operation: "CREATE", NamespaceLabels: meshRevision}, pod)
	if !reflect.DeepEqual(pod, want) {
		t.Errorf("wrapped pod differs from already-wrapped/pod.yaml:\n%s", imagePatch(t, want, pod))
	}
}

// TestJobProxyIdempotent mutates every case twice: the second pass returns
// nothing and leaves the pod as the first left it.
func TestJobProxyIdempotent(t *testing.T) {
	for name, tc := range jobProxyCases {
		t.Run(name, func(t *testing.T) {
			pod := imageReadPod(t, filepath.Join(jobProxyTestdata, name, "pod.yaml"))
			policy := NewJobProxy(tc.cfg)
			policy.Mutate(tc.req, pod)
			once := pod.DeepCopy()
			if lines := policy.Mutate(tc.req, pod); lines != nil {
				t.Errorf("second Mutate returned %q, want nothing", lines)
			}
			if !reflect.DeepEqual(pod, once) {
				t.Errorf("second Mutate changed the pod:\n%s", imagePatch(t, once, pod))
			}
		})
	}
}

// TestJobProxyWithImageRewriteAndIstio runs the server's order: job-proxy,
// image-rewrite (which mirrors the added init container), Istio's injector
// adding istio-proxy afterwards, then both mutators again (reinvocation):
// nothing more changes, and istio-proxy is not wrapped.
func TestJobProxyWithImageRewriteAndIstio(t *testing.T) {
	pod := imageReadPod(t, filepath.Join(jobProxyTestdata, "job-wrapped", "pod.yaml"))
	req := Request{Operation: "CREATE", Namespace: "tenant-a", NamespaceLabels: meshRevision}
	jobProxy, rewrite := NewJobProxy(classic(JobProxyConfig{})), NewImageRewrite(imageTestConfig())
	jobProxy.Mutate(req, pod)
	rewrite.Mutate(req, pod)
	if got, want := pod.Spec.InitContainers[1].Image, "123456789012.dkr.ecr.us-east-1.amazonaws.com/ghcr.io/flux-infra/platform-webhook:v0.1.0"; got != want {
		t.Errorf("init container image %q, want %q", got, want)
	}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.24.0", Args: []string{"proxy", "sidecar"}})
	pod.Annotations[IstioStatusAnnotation] = `{"containers":["istio-proxy"]}`
	before := pod.DeepCopy()
	if lines := jobProxy.Mutate(req, pod); lines != nil {
		t.Errorf("job-proxy after injection returned %q, want nothing", lines)
	}
	if !reflect.DeepEqual(pod.Spec.Containers[1], before.Spec.Containers[1]) {
		t.Errorf("istio-proxy changed: %+v", pod.Spec.Containers[1])
	}
	if lines := jobProxy.Refuse(req, pod); lines != nil {
		t.Errorf("Refuse after injection returned %q, want nothing", lines)
	}
}

// jobPod is a Job pod with one container running "/app/run".
func jobPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job-abc12", Namespace: "tenant-a",
			Labels: map[string]string{"batch.kubernetes.io/job-name": "job"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "app:1", Command: []string{"/app/run"}}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

// TestJobProxyWhichPods: which pods are Job pods that get a sidecar, each
// decided by one label, owner reference or field.
func TestJobProxyWhichPods(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nsLabels  map[string]string
		pod       func(*corev1.Pod)
		req       Request
		wantLines int // 0: left alone; 2: init container and one wrapped container
	}{
		{name: "namespace istio.io/rev", nsLabels: meshRevision, wantLines: 2},
		{name: "namespace istio-injection enabled", nsLabels: meshInjection, wantLines: 2},
		{name: "namespace istio-injection disabled", nsLabels: map[string]string{"istio-injection": "disabled"}},
		{name: "namespace istio-injection disabled beats the pod's inject true",
			nsLabels: map[string]string{"istio-injection": "disabled"},
			pod:      func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true" }},
		{name: "namespace without labels"},
		{name: "pod label inject true", pod: func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true" }, wantLines: 2},
		// Istio's webhooks select on labels only: the annotation alone
		// brings no proxy, so wrapping would make the Job wait for nothing.
		{name: "pod annotation inject true, namespace without labels: no webhook selects it",
			pod: func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "true"} }},
		{name: "pod annotation inject true in a mesh namespace", nsLabels: meshInjection,
			pod: func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "true"} }, wantLines: 2},
		// Rows of the istiod chart's selectors (mutatingwebhook.yaml) and
		// injectRequired, written from Istio's source:
		{name: "namespace istio-injection false: no webhook matches", nsLabels: map[string]string{"istio-injection": "false"}},
		{name: "namespace istio-injection false beats the pod's inject true",
			nsLabels: map[string]string{"istio-injection": "false"},
			pod:      func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true" }},
		{name: "namespace istio-injection false beats the pod's istio.io/rev",
			nsLabels: map[string]string{"istio-injection": "false"},
			pod:      func(p *corev1.Pod) { p.Labels["istio.io/rev"] = "stable" }},
		{name: "namespace istio-injection enabled and istio.io/rev: the namespace webhook", nsLabels: map[string]string{"istio-injection": "enabled", "istio.io/rev": "stable"}, wantLines: 2},
		{name: "namespace istio.io/rev, pod inject label false", nsLabels: meshRevision,
			pod: func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "false" }},
		{name: "namespace istio.io/rev, pod inject label true beats annotation false", nsLabels: meshRevision, wantLines: 2,
			pod: func(p *corev1.Pod) {
				p.Labels["sidecar.istio.io/inject"] = "true"
				p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"}
			}},
		{name: "namespace istio.io/rev, pod istio.io/rev: rev.namespace", nsLabels: meshRevision, wantLines: 2,
			pod: func(p *corev1.Pod) { p.Labels["istio.io/rev"] = "canary" }},
		{name: "pod inject true and istio.io/rev: rev.object", wantLines: 2,
			pod: func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true"; p.Labels["istio.io/rev"] = "canary" }},
		{name: "pod inject false and istio.io/rev: no webhook",
			pod: func(p *corev1.Pod) {
				p.Labels["sidecar.istio.io/inject"] = "false"
				p.Labels["istio.io/rev"] = "canary"
			}},
		{name: "pod inject label with another value: no webhook selects it",
			pod: func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "yes" }},
		{name: "kube-public is never injected", nsLabels: meshInjection, req: Request{Namespace: "kube-public"}},
		{name: "pod annotation inject false", nsLabels: meshRevision,
			pod: func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"} }},
		{name: "pod label inject false beats annotation true", nsLabels: meshRevision,
			pod: func(p *corev1.Pod) {
				p.Labels["sidecar.istio.io/inject"] = "false"
				p.Annotations = map[string]string{"sidecar.istio.io/inject": "true"}
			}},
		{name: "pod label istio.io/rev", pod: func(p *corev1.Pod) { p.Labels["istio.io/rev"] = "canary" }, wantLines: 2},
		{name: "host network", nsLabels: meshRevision, pod: func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
		{name: "istio-proxy present, no labels", pod: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxyv2"})
		}, wantLines: 2},
		{name: "owner reference to a Job, no label", nsLabels: meshRevision, wantLines: 2, pod: func(p *corev1.Pod) {
			p.Labels = nil
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "job", Controller: ptr.To(true)}}
		}},
		{name: "owner reference to a Job that is not the controller", nsLabels: meshRevision, pod: func(p *corev1.Pod) {
			p.Labels = nil
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "job"}}
		}},
		{name: "owner reference to another kind named Job", nsLabels: meshRevision, pod: func(p *corev1.Pod) {
			p.Labels = nil
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Job", Name: "job", Controller: ptr.To(true)}}
		}},
		{name: "tenant annotated native sidecar", nsLabels: meshRevision,
			pod: func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/nativeSidecar": "true"} }},
		{name: "update", nsLabels: meshRevision, req: Request{Operation: "UPDATE"}},
		{name: "subresource", nsLabels: meshRevision, req: Request{Operation: "UPDATE", SubResource: "ephemeralcontainers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := jobPod(tc.pod)
			req := tc.req
			if req.Operation == "" {
				req.Operation = "CREATE"
			}
			req.NamespaceLabels = tc.nsLabels
			if req.Namespace == "" {
				req.Namespace = "tenant-a"
			}
			lines := NewJobProxy(classic(JobProxyConfig{})).Mutate(req, pod)
			if len(lines) != tc.wantLines {
				t.Errorf("Mutate() = %q, want %d lines", lines, tc.wantLines)
			}
		})
	}
}

// TestJobProxyStrategies: what each strategy does with a pod Istio has not
// injected yet.
func TestJobProxyStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy JobProxyStrategy
		native   bool
		want     []string
	}{
		{JobProxyWrapper, false, []string{addInstall, wrapLine("main")}},
		{JobProxyWrapper, true, []string{addInstall, wrapLine("main")}},
		{JobProxyNative, false, []string{annotate}},
		{JobProxyNative, true, []string{annotate}},
		{JobProxyAuto, false, []string{addInstall, wrapLine("main")}},
		{JobProxyAuto, true, []string{annotate}},
	} {
		pod := jobPod(nil)
		got := NewJobProxy(classic(JobProxyConfig{Strategy: tc.strategy, NativeSidecars: tc.native})).
			Mutate(Request{NamespaceLabels: meshRevision}, pod)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("strategy %s, nativeSidecars %v: Mutate() = %q, want %q", tc.strategy, tc.native, got, tc.want)
		}
		if tc.want[0] == annotate {
			if pod.Annotations["sidecar.istio.io/nativeSidecar"] != "true" || pod.Spec.Containers[0].Command[0] != "/app/run" {
				t.Errorf("strategy %s: annotations %v, command %q", tc.strategy, pod.Annotations, pod.Spec.Containers[0].Command)
			}
		}
	}
}

// TestJobProxyWrapperFlags: the restart policy and the timeout the wrapper
// is given.
func TestJobProxyWrapperFlags(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	never := corev1.ContainerRestartPolicyNever
	for _, tc := range []struct {
		name string
		pod  func(*corev1.Pod)
		cfg  JobProxyConfig
		want string
	}{
		{"Never", nil, JobProxyConfig{}, "/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- /app/run"},
		{"OnFailure", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, JobProxyConfig{},
			"/job-proxy/platform-webhook wrap --restart-policy=OnFailure --timeout=5m0s -- /app/run"},
		{"unset is the API default Always", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, JobProxyConfig{},
			"/job-proxy/platform-webhook wrap --restart-policy=Always --timeout=5m0s -- /app/run"},
		{"container restart policy overrides the pod's", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			p.Spec.Containers[0].RestartPolicy = &never
		}, JobProxyConfig{}, "/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- /app/run"},
		{"container Always", func(p *corev1.Pod) { p.Spec.Containers[0].RestartPolicy = &always }, JobProxyConfig{},
			"/job-proxy/platform-webhook wrap --restart-policy=Always --timeout=5m0s -- /app/run"},
		{"configured timeout", nil, JobProxyConfig{ReadyTimeout: "90s"},
			"/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=1m30s -- /app/run"},
		{"command with args of its own", func(p *corev1.Pod) {
			p.Spec.Containers[0].Command = []string{"sh", "-c", "echo a -- b"}
			p.Spec.Containers[0].Args = []string{"ignored by sh"}
		}, JobProxyConfig{}, "/job-proxy/platform-webhook wrap --restart-policy=Never --timeout=5m0s -- sh -c echo a -- b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := jobPod(tc.pod)
			args := slices.Clone(pod.Spec.Containers[0].Args)
			NewJobProxy(classic(tc.cfg)).Mutate(Request{NamespaceLabels: meshRevision}, pod)
			if got := strings.Join(pod.Spec.Containers[0].Command, " "); got != tc.want {
				t.Errorf("command\n got %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(pod.Spec.Containers[0].Args, args) {
				t.Errorf("args changed to %q", pod.Spec.Containers[0].Args)
			}
		})
	}
}

// TestJobProxyCommandless: a container without a command, in every
// situation: native sidecars where allowed and in time, else a refusal
// naming what to add.
func TestJobProxyCommandless(t *testing.T) {
	argsOnly := func(p *corev1.Pod) {
		p.Spec.Containers[0].Command = nil
		p.Spec.Containers[0].Args = []string{"--once"}
	}
	injected := func(p *corev1.Pod) {
		argsOnly(p)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxyv2"})
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[IstioStatusAnnotation] = `{"containers":["istio-proxy"]}`
	}
	customized := func(p *corev1.Pod) {
		argsOnly(p)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "auto",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}})
	}
	const (
		fallback  = `annotate the pod sidecar.istio.io/nativeSidecar: "true" (container "main" has no command to wrap)`
		refusal   = `spec.containers[0].command: container "main" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)`
		refusalOr = `spec.containers[0].command: container "main" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT, or annotate the pod sidecar.istio.io/nativeSidecar: "true")`
		noCommand = `spec.containers[0].command: container "main" has no command, so it cannot be wrapped to wait for istio-proxy (set command and args to the image's ENTRYPOINT and CMD)`
	)
	for _, tc := range []struct {
		name     string
		cfg      JobProxyConfig
		pod      func(*corev1.Pod)
		lines    []string
		refusals []string
		istio    *IstioCluster // default oldKubelets: no native sidecars
	}{
		{"wrapper: refused", JobProxyConfig{}, argsOnly, nil, []string{refusal}, nil},
		{"wrapper, neither command nor args: refused", JobProxyConfig{},
			func(p *corev1.Pod) { p.Spec.Containers[0].Command = nil }, nil, []string{noCommand}, nil},
		{"wrapper with native sidecars: native", JobProxyConfig{Strategy: JobProxyWrapper, NativeSidecars: true}, argsOnly, []string{fallback}, nil, nil},
		{"auto without native sidecars: refused", JobProxyConfig{Strategy: JobProxyAuto}, argsOnly, nil, []string{refusal}, nil},
		{"native: native", JobProxyConfig{Strategy: JobProxyNative}, argsOnly, []string{annotate}, nil, nil},
		{"native sidecars but Istio ran first: refused, the pod's annotation suggested",
			JobProxyConfig{Strategy: JobProxyWrapper, NativeSidecars: true}, injected, nil, []string{refusalOr}, nil},
		{"native strategy but Istio ran first: refused, the pod's annotation suggested",
			JobProxyConfig{Strategy: JobProxyNative}, injected, nil, []string{refusalOr}, nil},
		// The tenant's own istio-proxy (Istio's customization container, no
		// status annotation): Istio has not injected yet, so the native
		// annotation still works, and the tenant's own annotation is obeyed.
		{"customization container, wrapper: refused with what works", JobProxyConfig{}, customized, nil, []string{refusal}, nil},
		{"customization container, native sidecars: native", JobProxyConfig{Strategy: JobProxyWrapper, NativeSidecars: true}, customized, []string{fallback}, nil, nil},
		{"customization container, the tenant's native annotation: admitted as it is", JobProxyConfig{},
			func(p *corev1.Pod) {
				customized(p)
				p.Annotations = map[string]string{"sidecar.istio.io/nativeSidecar": "true"}
			}, nil, nil, nil},
		{"pod says nativeSidecar false: refused without the suggestion", JobProxyConfig{Strategy: JobProxyWrapper, NativeSidecars: true},
			func(p *corev1.Pod) {
				argsOnly(p)
				p.Annotations = map[string]string{"sidecar.istio.io/nativeSidecar": "false"}
			}, nil, []string{refusal}, nil},
		// Where the kubelets support native sidecars (1.29+, read from the
		// Nodes) the annotation is the way out, whatever the strategy.
		{"kubelets 1.29+, istiod classic: native", JobProxyConfig{}, argsOnly, []string{fallback}, nil,
			nodes("v1.29.0", "v1.32.4")},
		{"no Nodes known: native, as Istio reads an empty node list", JobProxyConfig{}, argsOnly, []string{fallback}, nil,
			NewIstioCluster(false)},
		{"Istio ran first on kubelets 1.29+: refused, the pod's annotation suggested", JobProxyConfig{}, injected, nil,
			[]string{refusalOr}, nodes("v1.32.4")},
		{"the pod's own node predates native sidecars: refused", JobProxyConfig{},
			func(p *corev1.Pod) { argsOnly(p); p.Spec.NodeName = "node-0" }, nil, []string{refusal}, nodes("v1.28.1", "v1.35.0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := jobPod(tc.pod)
			req := Request{NamespaceLabels: meshRevision, Istio: oldKubelets}
			if tc.istio != nil {
				req.Istio = tc.istio
			}
			policy := NewJobProxy(classic(tc.cfg))
			var refusals []string
			for _, v := range policy.Refuse(req, pod) {
				refusals = append(refusals, v.String())
			}
			if !reflect.DeepEqual(refusals, tc.refusals) {
				t.Errorf("Refuse()\n got %q\nwant %q", refusals, tc.refusals)
			}
			before := pod.DeepCopy()
			lines := policy.Mutate(req, pod)
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("Mutate()\n got %q\nwant %q", lines, tc.lines)
			}
			if tc.refusals != nil && !reflect.DeepEqual(pod, before) {
				t.Errorf("a refused pod was changed:\n%s", imagePatch(t, before, pod))
			}
		})
	}
}

func TestJobProxyName(t *testing.T) {
	if got := NewJobProxy(JobProxyConfig{}).Name(); got != "job-proxy" {
		t.Errorf("Name() = %q, want %q", got, "job-proxy")
	}
}
