package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// job-proxy against Istio's own injector (harness.StartIstio) and the real
// Job controller: which proxy a Job's pod gets, native or regular, is
// Istio's decision from the Nodes' kubelet versions (istiod's
// ENABLE_NATIVE_SIDECARS=auto), and job-proxy must act only where it will
// be a regular container. The harness's Node runs the apiserver's version
// (1.37); withOldNode adds one at 1.32, which turns Istio to regular
// proxies cluster-wide.

// jobPodManifest is a pod as the Job controller creates it: the job-name
// label and, when uid is set, a controller owner reference to the Job.
func jobPodManifest(ns, name, uid, container string) string {
	owner := ""
	if uid != "" {
		owner = fmt.Sprintf(`  ownerReferences:
    - apiVersion: batch/v1
      kind: Job
      name: migrate
      uid: %s
      controller: true
      blockOwnerDeletion: true
`, uid)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
    batch.kubernetes.io/job-name: migrate
%sspec:
  restartPolicy: Never
  containers:
    - name: migrate
%s`, name, ns, owner, container)
}

// proxyLayout says how a pod got istio-proxy: "native" (an init container
// the kubelet keeps running), "regular" (a container) or "none".
func proxyLayout(pod *corev1.Pod) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == "istio-proxy" && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return "native"
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "istio-proxy" {
			return "regular"
		}
	}
	return "none"
}

// dryRunJobPod is a server-side dry run of a Job pod in ns: the pod as the
// webhooks and Istio's injector would admit it now.
func dryRunJobPod(t *testing.T, ns string) (*corev1.Pod, error) {
	t.Helper()
	pod := jobPodManifest(ns, "probe", "", "      image: "+mirror+"/docker-hub/library/busybox:1.36\n      command: [\"true\"]\n")
	out, errOut, err := cluster.Kubectl(pod, "apply", "--dry-run=server", "-f", "-", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, errOut)
	}
	return decodePod(t, out), nil
}

// waitForJobPods waits until a Job pod in ns would be admitted with the
// proxy layout and wrapping given: the webhook's and Istio's informer
// caches have seen the Nodes and the namespace's labels.
func waitForJobPods(t *testing.T, ns, layout string, wrapped bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		pod, err := dryRunJobPod(t, ns)
		if err == nil {
			isWrapped := pod.Spec.Containers[0].Command[0] == "/job-proxy/platform-webhook"
			if proxyLayout(pod) == layout && isWrapped == wrapped {
				return
			}
			last = fmt.Sprintf("proxy %s, wrapped %v", proxyLayout(pod), isWrapped)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("a Job pod in %s was never admitted with proxy %s, wrapped %v; last: %s", ns, layout, wrapped, last)
}

// withOldNode adds a Node whose kubelet is 1.32 for the rest of the test:
// Istio's auto mode then injects regular proxies (and job-proxy wraps).
func withOldNode(t *testing.T, probeNS string) {
	t.Helper()
	ctx := context.Background()
	if err := cluster.AddNode(ctx, "node-old", "v1.32.4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.DeleteNode(ctx, "node-old"); err != nil {
			t.Error(err)
		}
		waitForJobPods(t, probeNS, "native", false)
	})
	waitForJobPods(t, probeNS, "regular", true)
}

func applyJob(t *testing.T, ns, name, template string) {
	t.Helper()
	out, errOut := kubectl(t, `apiVersion: batch/v1
kind: Job
metadata:
  name: `+name+`
  namespace: `+ns+`
spec:
  backoffLimit: 0
  template:
`+template, "apply", "-f", "-")
	if out != "job.batch/"+name+" created\n" || errOut != "" {
		t.Fatalf("kubectl apply job %s: stdout %q stderr %q", name, out, errOut)
	}
}

// jobPod is the one pod the Job controller made for job.
func jobPod(t *testing.T, ns, job string) *corev1.Pod {
	t.Helper()
	return &controllerPods(t, ns, "batch.kubernetes.io/job-name="+job, 1)[0]
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

const migrateTemplate = `    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: ghcr.io/example/migrate:2.4.1
          command: ["/app/migrate"]
          args: ["up"]
`

const argsOnlyTemplate = `    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: ghcr.io/example/migrate:2.4.1
          args: ["up"]
`

// TestJobProxyNativeSidecars: on kubelets 1.33+ (the harness's Node),
// Istio's auto mode injects a native sidecar, which starts first and stops
// last by itself: job-proxy changes nothing, an args-only Job runs, a
// Deployment is Istio's alone, and Istio's customization container (image:
// auto) becomes the native proxy with the tenant's resources.
func TestJobProxyNativeSidecars(t *testing.T) {
	const ns = "e2e-native"
	namespace(t, ns, map[string]string{"istio-injection": "enabled"})
	waitForJobPods(t, ns, "native", false)

	applyJob(t, ns, "migrate", migrateTemplate)
	applyJob(t, ns, "args-only", argsOnlyTemplate)
	applyJob(t, ns, "tuned", `    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: ghcr.io/example/migrate:2.4.1
          args: ["up"]
        - name: istio-proxy
          image: auto
          resources:
            requests: {cpu: 200m}
`)
	for _, job := range []string{"migrate", "args-only", "tuned"} {
		pod := jobPod(t, ns, job)
		if got := proxyLayout(pod); got != "native" {
			t.Errorf("%s: istio-proxy %s, want native", job, got)
		}
		c := pod.Spec.Containers[0]
		if slices.Contains(c.Command, "/job-proxy/platform-webhook") || !slices.Equal(c.Args, []string{"up"}) || c.Image != mirror+"/ghcr.io/example/migrate:2.4.1" {
			t.Errorf("%s: container %s command %q args %q image %s; want as written, image mirrored", job, c.Name, c.Command, c.Args, c.Image)
		}
		if got := containerNames(pod.Spec.Containers); !slices.Equal(got, []string{"migrate"}) {
			t.Errorf("%s: containers %q, want only migrate (the proxy is native)", job, got)
		}
		if _, ok := pod.Annotations["sidecar.istio.io/nativeSidecar"]; ok {
			t.Errorf("%s: job-proxy annotated the pod: %v", job, pod.Annotations)
		}
		for _, ic := range pod.Spec.InitContainers {
			if ic.Name == "job-proxy-install" {
				t.Errorf("%s: job-proxy added its init container", job)
			}
			// Istio's images come from the seed's hub: already mirrored, so
			// image-registry admits them and the annotation leaves them out.
			if ic.Name == "istio-proxy" && ic.Image != istioProxy {
				t.Errorf("%s: istio-proxy image %s, want %s", job, ic.Image, istioProxy)
			}
			if ic.Name == "istio-proxy" && job == "tuned" && ic.Resources.Requests.Cpu().String() != "200m" {
				t.Errorf("tuned: istio-proxy requests %v, want the tenant's cpu 200m", ic.Resources.Requests)
			}
		}
		if got, want := pod.Annotations["platform-webhook.flux-infra.io/original-images"], `{"migrate":"ghcr.io/example/migrate:2.4.1"}`; got != want {
			t.Errorf("%s: original images %s, want %s", job, got, want)
		}
	}

	t.Run("a Deployment: Istio's proxy, nothing of job-proxy", func(t *testing.T) {
		kubectl(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: `+ns+`
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: ghcr.io/example/api:3.1
          args: ["serve"]
`, "apply", "-f", "-")
		pod := controllerPods(t, ns, "app=api", 1)[0]
		if got := proxyLayout(&pod); got != "native" {
			t.Errorf("istio-proxy %s, want native", got)
		}
		if c := pod.Spec.Containers[0]; len(c.Command) != 0 || slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "job-proxy-install" }) {
			t.Errorf("job-proxy touched a Deployment's pod: command %q, init containers %q", c.Command, containerNames(pod.Spec.InitContainers))
		}
	})
}

// TestJobProxyRegularProxies: with one Node on kubelet 1.32 Istio injects
// istio-proxy as a regular container, so job-proxy wraps the Job's command
// (a Job, and a CronJob's Job made with kubectl create job --from); an
// args-only Job is annotated for a native sidecar instead (1.29+ runs it);
// pods Istio will not inject are left alone.
func TestJobProxyRegularProxies(t *testing.T) {
	const ns = "e2e-regular"
	namespace(t, ns, map[string]string{"istio-injection": "enabled"})
	waitForJobPods(t, ns, "native", false)
	withOldNode(t, ns)

	applyJob(t, ns, "migrate", migrateTemplate)
	applyJob(t, ns, "args-only", argsOnlyTemplate)
	kubectl(t, `apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: `+ns+`
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: quay.io/example/report:1.0
              command: ["/report"]
`, "apply", "-f", "-")
	if out, errOut := kubectl(t, "", "create", "job", "-n", ns, "--from=cronjob/report", "report-now"); out != "job.batch/report-now created\n" || errOut != "" {
		t.Fatalf("kubectl create job: stdout %q stderr %q", out, errOut)
	}

	for _, c := range []struct{ job, image, command, restart string }{
		{"migrate", mirror + "/ghcr.io/example/migrate:2.4.1", "/app/migrate", "Never"},
		{"report-now", mirror + "/quay.io/example/report:1.0", "/report", "OnFailure"},
	} {
		pod := jobPod(t, ns, c.job)
		if got, want := owner(*pod), "Job/"+c.job; got != want {
			t.Errorf("%s: owner %q, want %q", c.job, got, want)
		}
		if got := proxyLayout(pod); got != "regular" {
			t.Errorf("%s: istio-proxy %s, want a regular container", c.job, got)
		}
		ctr := pod.Spec.Containers[0]
		want := "/job-proxy/platform-webhook wrap --restart-policy=" + c.restart + " --timeout=5m0s -- " + c.command
		if got := strings.Join(ctr.Command, " "); got != want || ctr.Image != c.image {
			t.Errorf("%s: command %q image %q\nwant    %q image %q", c.job, got, ctr.Image, want, c.image)
		}
		// Istio's containers are not wrapped.
		for _, other := range pod.Spec.Containers[1:] {
			if slices.Contains(other.Command, "/job-proxy/platform-webhook") {
				t.Errorf("%s: %s wrapped", c.job, other.Name)
			}
		}
		var install *corev1.Container
		for i, ic := range pod.Spec.InitContainers {
			if ic.Name == "job-proxy-install" {
				install = &pod.Spec.InitContainers[i]
			}
		}
		if install == nil || install.Image != mirror+"/ghcr.io/flux-infra/platform-webhook:v0.1.0" ||
			strings.Join(install.Command, " ") != "/platform-webhook wrap --install /job-proxy/platform-webhook" {
			t.Errorf("%s: init containers %q, want job-proxy-install from the mirror", c.job, containerNames(pod.Spec.InitContainers))
		}
	}

	pod := jobPod(t, ns, "args-only")
	if got := proxyLayout(pod); got != "native" || pod.Annotations["sidecar.istio.io/nativeSidecar"] != "true" {
		t.Errorf("args-only: istio-proxy %s, annotations %v; want native through job-proxy's annotation", got, pod.Annotations)
	}
	if c := pod.Spec.Containers[0]; len(c.Command) != 0 || !slices.Equal(c.Args, []string{"up"}) {
		t.Errorf("args-only: command %q args %q, want as written", c.Command, c.Args)
	}

	// Pods Istio's webhooks never select: no proxy, and so no wrapper that
	// would wait for one.
	t.Run("annotation inject true, namespace without labels", func(t *testing.T) {
		const plain = "e2e-regular-plain"
		namespace(t, plain, nil)
		applyJob(t, plain, "annotated", `    metadata:
      annotations:
        sidecar.istio.io/inject: "true"
`+migrateTemplate)
		pod := jobPod(t, plain, "annotated")
		if got := proxyLayout(pod); got != "none" || pod.Spec.Containers[0].Command[0] != "/app/migrate" {
			t.Errorf("istio-proxy %s, command %q; want no proxy and the command as written", got, pod.Spec.Containers[0].Command)
		}
	})
	t.Run("namespace istio-injection false", func(t *testing.T) {
		const off = "e2e-regular-off"
		namespace(t, off, map[string]string{"istio-injection": "false"})
		applyJob(t, off, "labelled", `    metadata:
      labels:
        sidecar.istio.io/inject: "true"
`+migrateTemplate)
		pod := jobPod(t, off, "labelled")
		if got := proxyLayout(pod); got != "none" || pod.Spec.Containers[0].Command[0] != "/app/migrate" {
			t.Errorf("istio-proxy %s, command %q; want no proxy and the command as written", got, pod.Spec.Containers[0].Command)
		}
	})
}

// TestJobProxyDenied: where native sidecars cannot run (a kubelet 1.28) and
// the proxy will be a regular container, a Job pod whose container has no
// command cannot be wrapped: denied, saying what to add.
func TestJobProxyDenied(t *testing.T) {
	const ns = "e2e-mesh"
	namespace(t, ns, map[string]string{"istio.io/rev": "stable"})
	waitForJobPods(t, ns, "native", false)
	ctx := context.Background()
	if err := cluster.AddNode(ctx, "node-ancient", "v1.28.15"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.DeleteNode(ctx, "node-ancient"); err != nil {
			t.Error(err)
		}
		waitForJobPods(t, ns, "native", false)
	})
	waitForJobPods(t, ns, "regular", true)
	pod := jobPodManifest(ns, "migrate-q8x7v", "", "      image: ghcr.io/example/migrate:2.4.1\n      args: [\"up\"]\n")
	want := `Error from server (Forbidden): error when creating "STDIN": admission webhook "job-proxy.flux-infra.io" denied the request: ` +
		`[job-proxy] spec.containers[0].command: container "migrate" has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT)` + "\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errOut, err := cluster.Kubectl(pod, "apply", "-f", "-")
		if err != nil && errOut == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl apply: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
		}
		time.Sleep(200 * time.Millisecond) // both 1.28 and 1.32 say "regular": wait for the 1.28 in the cache
	}
}

// TestJobProxyAudit: in an audit namespace the Warning lines say what
// job-proxy would change, and the pod is stored as written (Istio still
// injects its regular proxy: audit speaks for our policies only).
func TestJobProxyAudit(t *testing.T) {
	const ns = "e2e-mesh-audit"
	namespace(t, ns, map[string]string{"istio-injection": "enabled", "flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, ns)
	probe := "e2e-mesh-audit-probe"
	namespace(t, probe, map[string]string{"istio-injection": "enabled"})
	withOldNode(t, probe)
	// An image already in the mirror: the only warnings are job-proxy's.
	image := mirror + "/ghcr.io/example/migrate:2.4.1"
	out, errOut := kubectl(t, jobPodManifest(ns, "migrate-a1b2c", "",
		"      image: "+image+"\n      command: [\"/app/migrate\", \"up\"]\n"), "apply", "-f", "-")
	wantErr := `Warning: [job-proxy] would add init container "job-proxy-install" to copy the wrapper from "ghcr.io/flux-infra/platform-webhook:v0.1.0"
Warning: [job-proxy] would wrap container "migrate" to wait for istio-proxy and stop it on exit
`
	if out != "pod/migrate-a1b2c created\n" || errOut != wantErr {
		t.Fatalf("kubectl apply printed\nstdout: %q\nstderr: %s\nwant stderr: %s", out, errOut, wantErr)
	}
	pod := getPod(t, ns, "migrate-a1b2c")
	if got := strings.Join(pod.Spec.Containers[0].Command, " "); got != "/app/migrate up" ||
		slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "job-proxy-install" }) {
		t.Errorf("audit mode changed the pod: command %q, init containers %q", got, containerNames(pod.Spec.InitContainers))
	}
	if got := proxyLayout(pod); got != "regular" {
		t.Errorf("istio-proxy %s, want regular (Istio injects in audit too)", got)
	}
}
