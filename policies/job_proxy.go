package policies

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// JobProxyPolicy is the job-proxy mutator. A Job's container in the mesh
// starts before istio-proxy is ready (its first calls fail), and when it
// exits the proxy keeps running, so the Job never completes. job-proxy makes
// every Job pod that gets istio-proxy as a regular container wait for it and
// stop it. Where Istio injects a native sidecar (an init container with
// restartPolicy Always, which the kubelet starts first and stops last), or
// no proxy at all, there is nothing to do, whatever the strategy.
//
// Which pods: Job pods (a controller owner reference to a batch/v1 Job, or
// the batch.kubernetes.io/job-name label) that already have a regular
// istio-proxy, or that Istio's injector will inject (istioInjects: its
// webhooks' selectors and its own skips) with a regular proxy
// (istioProxyNative: the pod's annotation, then istiod's setting). An
// istio-proxy container without Istio's status annotation, in a pod Istio
// will inject, is the tenant's customization, not a proxy: the pod counts
// as not injected yet. Never touched: istio-proxy itself, the pod's init
// containers.
//
// What, where the proxy will be regular (JobProxyConfig.preferNative):
//
//   - wrapper (strategy wrapper, or auto without nativeSidecars): each
//     regular container's command becomes `/job-proxy/platform-webhook wrap
//     [flags] -- <command>`; an added init container copies that binary (the
//     webhook's own, from HelperImage) into a shared emptyDir. The wrapper
//     polls localhost:15021/healthz/ready, runs the command, then POSTs
//     localhost:15020/quitquitquit (see cmd/platform-webhook/wrap.go).
//   - native (strategy native, or auto with nativeSidecars): the pod is
//     annotated sidecar.istio.io/nativeSidecar: "true", so Istio injects a
//     native sidecar instead. The annotation must come before Istio's
//     injector runs: a pod that already has a regular istio-proxy is wrapped.
//
// The wrapper needs a command to wrap. A container that sets only args, or
// neither, runs the image's ENTRYPOINT, which the webhook cannot see. Such a
// pod is annotated for a native sidecar where native sidecars run (every
// kubelet 1.29+, or nativeSidecars, or strategy native) and Istio has not
// injected yet; otherwise Refuse denies it (audit: warns) saying what to
// add. It is never admitted to hang.
//
// It acts on a pod's CREATE only; a second pass changes nothing.
type JobProxyPolicy struct {
	cfg JobProxyConfig
}

var (
	_ Mutator[*corev1.Pod] = (*JobProxyPolicy)(nil)
	_ Refuser[*corev1.Pod] = (*JobProxyPolicy)(nil)
	_ Scoped               = (*JobProxyPolicy)(nil)
)

// NewJobProxy returns the job-proxy mutator for cfg (defaulted and valid).
func NewJobProxy(cfg JobProxyConfig) *JobProxyPolicy {
	cfg.Default()
	return &JobProxyPolicy{cfg: cfg}
}

// Name returns "job-proxy".
func (p *JobProxyPolicy) Name() string { return JobProxy }

// Scope is what Mutate changes: the native-sidecar annotation, or the
// shared volume and the init container that fills it (appended), and the
// commands and volume mounts of the containers it wraps.
func (p *JobProxyPolicy) Scope() []string {
	return []string{
		"metadata.annotations",
		"spec.volumes[+]",
		"spec.initContainers[+]",
		"spec.containers[*].command",
		"spec.containers[*].volumeMounts",
	}
}

// jobProxyInstallResources are the requests and the limits of the init
// container that copies the wrapper: equal, so a Guaranteed pod stays
// Guaranteed; an init container's requests count only where they exceed the
// containers', so they cost next to nothing.
func jobProxyInstallResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("50m"),
		corev1.ResourceMemory: resource.MustParse("64Mi"),
	}
}

// jobProxyPlan is what job-proxy would do with a pod.
type jobProxyPlan struct {
	// native, when set, is the line for annotating the pod for native sidecars.
	native string
	// wrap are the indexes of the containers to wrap.
	wrap []int
	// refuse are the containers that can be neither wrapped nor left alone.
	refuse []Violation
}

// Refuse returns a violation for each container of a pod that needs the
// wrapper but has no command to wrap, when native sidecars are not a way out.
func (p *JobProxyPolicy) Refuse(req Request, pod *corev1.Pod) []Violation {
	return p.plan(req, pod).refuse
}

// Mutate wraps the pod's containers (or annotates it for native sidecars)
// and returns one line per change: the added init container first, then one
// per wrapped container. A pod Refuse denies is left as it is.
func (p *JobProxyPolicy) Mutate(req Request, pod *corev1.Pod) []string {
	plan := p.plan(req, pod)
	switch {
	case len(plan.refuse) > 0:
		return nil
	case plan.native != "":
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[IstioNativeSidecarAnnotation] = "true"
		return []string{plan.native}
	case len(plan.wrap) == 0:
		return nil
	}

	var lines []string
	if !hasVolume(pod.Spec.Volumes, JobProxyVolume) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         JobProxyVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
	}
	if containerIndex(pod.Spec.InitContainers, JobProxyInitContainer) < 0 {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, p.installContainer())
		lines = append(lines, fmt.Sprintf("add init container %q to copy the wrapper from %q", JobProxyInitContainer, p.cfg.HelperImage))
	}
	for _, i := range plan.wrap {
		c := &pod.Spec.Containers[i]
		restart := pod.Spec.RestartPolicy
		if c.RestartPolicy != nil { // per-container restart policy (Kubernetes 1.34+)
			restart = corev1.RestartPolicy(*c.RestartPolicy)
		}
		if restart == "" {
			restart = corev1.RestartPolicyAlways // the API default
		}
		wrapper := []string{JobProxyWrapperPath, "wrap",
			"--restart-policy=" + string(restart),
			"--timeout=" + p.cfg.readyTimeout().String(),
			"--"}
		c.Command = append(wrapper, c.Command...)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: JobProxyVolume, MountPath: JobProxyDir, ReadOnly: true})
		lines = append(lines, fmt.Sprintf("wrap container %q to wait for istio-proxy and stop it on exit", c.Name))
	}
	return lines
}

// installContainer is the init container that copies the wrapper: the
// webhook's binary copies itself (no shell needed), as a non-root user with
// a read-only root filesystem and no privileges (Pod Security "restricted").
func (p *JobProxyPolicy) installContainer() corev1.Container {
	return corev1.Container{
		Name:    JobProxyInitContainer,
		Image:   p.cfg.HelperImage,
		Command: []string{"/platform-webhook", "wrap", "--install", JobProxyWrapperPath},
		Resources: corev1.ResourceRequirements{
			Requests: jobProxyInstallResources(),
			Limits:   jobProxyInstallResources(),
		},
		VolumeMounts: []corev1.VolumeMount{{Name: JobProxyVolume, MountPath: JobProxyDir}},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](65532),
			RunAsGroup:               ptr.To[int64](65532),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// plan decides what to do with a pod; see the type's comment.
func (p *JobProxyPolicy) plan(req Request, pod *corev1.Pod) jobProxyPlan {
	switch {
	case pod == nil:
		return jobProxyPlan{}
	case req.SubResource != "", req.Operation != "" && req.Operation != "CREATE":
		return jobProxyPlan{} // "" is a CREATE (review, tests)
	case !isJobPod(pod):
		return jobProxyPlan{}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == IstioProxyContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return jobProxyPlan{} // a native sidecar: the kubelet starts it first and stops it
		}
	}
	willInject := istioInjects(req, pod)
	injected := containerIndex(pod.Spec.Containers, IstioProxyContainer) >= 0
	if _, status := pod.Annotations[IstioStatusAnnotation]; injected && !status && willInject {
		// The tenant's customization container: Istio has not injected yet
		// and will, merging it into its proxy, native or not as it decides.
		injected = false
	}
	switch {
	case !injected && !willInject:
		return jobProxyPlan{} // no proxy will come
	case !injected && istioProxyNative(req, p.cfg, pod):
		return jobProxyPlan{} // Istio will inject a native sidecar
	}

	// From here the proxy is, or will be, a regular container. The
	// annotation works only before Istio's injector runs, never against the
	// pod's own "false", and only on kubelets with native sidecars.
	_, annotated := pod.Annotations[IstioNativeSidecarAnnotation]
	supported := p.cfg.NativeSidecars || p.cfg.Strategy == JobProxyNative ||
		req.Istio.kubeletsAtLeast(pod.Spec.NodeName, nativeSidecarsMinMinor)
	canAnnotate := !injected && !annotated && supported
	if p.cfg.preferNative() && canAnnotate {
		return jobProxyPlan{native: fmt.Sprintf("annotate the pod %s: \"true\" so istio-proxy starts first and stops last", IstioNativeSidecarAnnotation)}
	}

	var plan jobProxyPlan
	var commandless []int
	for i, c := range pod.Spec.Containers {
		switch {
		case c.Name == IstioProxyContainer, isWrapped(c):
		case len(c.Command) == 0:
			commandless = append(commandless, i)
		default:
			plan.wrap = append(plan.wrap, i)
		}
	}
	if len(commandless) == 0 {
		return plan
	}
	first := pod.Spec.Containers[commandless[0]].Name
	if canAnnotate {
		return jobProxyPlan{native: fmt.Sprintf("annotate the pod %s: \"true\" (container %q has no command to wrap)", IstioNativeSidecarAnnotation, first)}
	}
	// Where Istio injected first, only the tenant can still ask for a native
	// sidecar: its own annotation, which the injector reads before injecting.
	or := ""
	if supported && !annotated {
		or = fmt.Sprintf(", or annotate the pod %s: \"true\"", IstioNativeSidecarAnnotation)
	}
	for _, i := range commandless {
		c := pod.Spec.Containers[i]
		field := fmt.Sprintf("spec.containers[%d].command", i)
		if len(c.Args) > 0 {
			plan.refuse = append(plan.refuse, Violationf(field,
				"container %q has args but no command, so it cannot be wrapped to wait for istio-proxy (set command to the image's ENTRYPOINT%s)", c.Name, or))
		} else {
			plan.refuse = append(plan.refuse, Violationf(field,
				"container %q has no command, so it cannot be wrapped to wait for istio-proxy (set command and args to the image's ENTRYPOINT and CMD%s)", c.Name, or))
		}
	}
	return plan
}

// isJobPod says whether a Job created the pod: its controller is a batch/v1
// Job, or it has the label the Job controller sets.
func isJobPod(pod *corev1.Pod) bool {
	if _, ok := pod.Labels[batchv1.JobNameLabel]; ok {
		return true
	}
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.APIVersion == "batch/v1" && o.Kind == "Job" {
			return true
		}
	}
	return false
}

// istioInjects says whether Istio's sidecar injector will add istio-proxy to
// a pod that has none yet. It mirrors Istio's two steps, read from the
// istio.io/istio module the CRDs come from (test/tools/versions.env):
//
//  1. Whether the apiserver calls an injector webhook at all. From the
//     cluster's own sidecar-injector MutatingWebhookConfigurations when known
//     (IstioCluster: every revision and tag as installed); otherwise the
//     selectors the istiod chart renders for a default revision
//     (chartSelects).
//  2. What the injector then skips: injectRequired in
//     pkg/kube/inject/inject.go, with the chart's default policy "enabled"
//     (values sidecarInjectorWebhook: no neverInjectSelector or
//     alwaysInjectSelector): hostNetwork pods, the namespaces of
//     IgnoredNamespaces (pkg/kube/inject/initializer.go), and pods whose
//     sidecar.istio.io/inject label, or without the label its annotation,
//     is "false". Ambient mode plays no part: neither the selectors nor
//     injectRequired read istio.io/dataplane-mode, so a pod selected for
//     injection in an ambient namespace still gets its sidecar.
func istioInjects(req Request, pod *corev1.Pod) bool {
	selected, known := req.Istio.injectorSelects(req.Namespace, req.NamespaceLabels, pod.Labels)
	if !known {
		selected = chartSelects(req.NamespaceLabels, pod)
	}
	if !selected || pod.Spec.HostNetwork || istioIgnoredNamespaces[req.Namespace] {
		return false
	}
	inject, ok := pod.Labels[IstioInjectLabel] // the label wins over the annotation
	if !ok {
		inject = pod.Annotations[IstioInjectLabel]
	}
	return inject != "false"
}

// chartSelects is whether one of the webhooks the istiod chart renders for
// the default revision selects a pod
// (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml),
// on labels only, never annotations:
//   - "rev.namespace": namespace istio.io/rev set, namespace istio-injection
//     absent, pod label sidecar.istio.io/inject not "false";
//   - "rev.object": namespace istio.io/rev and istio-injection absent, pod
//     label istio.io/rev set, pod label sidecar.istio.io/inject not "false";
//   - "namespace": namespace istio-injection "enabled", pod label
//     sidecar.istio.io/inject not "false";
//   - "object": namespace istio-injection and istio.io/rev absent, pod label
//     sidecar.istio.io/inject "true", pod label istio.io/rev absent.
//
// So a namespace labelled istio-injection with any other value ("false",
// "disabled") gets no proxy, whatever its pods say, and an *annotation*
// sidecar.istio.io/inject: "true" selects nothing. Assumed here: every
// istio.io/rev value names an installed revision or tag, and the chart's
// enableNamespacesByDefault is off (its default).
func chartSelects(namespaceLabels map[string]string, pod *corev1.Pod) bool {
	nsInjection, nsHasInjection := namespaceLabels[IstioInjectionLabel]
	nsRevision, nsHasRevision := namespaceLabels[IstioRevisionLabel]
	podInject, podHasInject := pod.Labels[IstioInjectLabel]
	_, podHasRevision := pod.Labels[IstioRevisionLabel]
	notDisabled := !podHasInject || podInject != "false" // the selectors' NotIn ["false"]

	return (nsHasRevision && nsRevision != "" && !nsHasInjection && notDisabled) || // rev.namespace
		(!nsHasRevision && !nsHasInjection && podHasRevision && notDisabled) || // rev.object
		(nsInjection == "enabled" && notDisabled) || // namespace
		(!nsHasInjection && !nsHasRevision && podInject == "true" && !podHasRevision) // object
}

// Kubernetes minor versions for native sidecars: the SidecarContainers
// feature is on by default from 1.29 (beta), so the pod annotation works
// there; Istio's auto mode waits for 1.33, where it is GA (DetectNativeSidecar).
const (
	nativeSidecarsMinMinor  = 29
	istioAutoNativeMinMinor = 33
)

// istioProxyNative says whether the istio-proxy Istio injects into a pod will
// be a native sidecar. The pod's annotation first, as the injection template
// reads it (files/injection-template.yaml of the istiod chart:
// `ne (annotation sidecar.istio.io/nativeSidecar | default .NativeSidecars) "false"`,
// so any value but "false" means native); then istiod's
// ENABLE_NATIVE_SIDECARS (cfg.IstioNativeSidecars), whose auto is
// DetectNativeSidecar (pkg/kube/inject/webhook.go) over the Nodes.
func istioProxyNative(req Request, cfg JobProxyConfig, pod *corev1.Pod) bool {
	if v := pod.Annotations[IstioNativeSidecarAnnotation]; v != "" {
		return v != "false"
	}
	switch cfg.IstioNativeSidecars {
	case IstioNativeSidecarsTrue:
		return true
	case IstioNativeSidecarsFalse:
		return false
	}
	return req.Istio.kubeletsAtLeast(pod.Spec.NodeName, istioAutoNativeMinMinor)
}

// istioIgnoredNamespaces are the namespaces Istio's injector never injects
// (IgnoredNamespaces in pkg/kube/inject/initializer.go).
var istioIgnoredNamespaces = map[string]bool{
	"kube-system": true, "kube-public": true, "kube-node-lease": true, "local-path-storage": true,
}

// isWrapped says whether job-proxy already wrapped a container.
func isWrapped(c corev1.Container) bool {
	return len(c.Command) >= 2 && c.Command[0] == JobProxyWrapperPath && c.Command[1] == "wrap"
}

func containerIndex(containers []corev1.Container, name string) int {
	for i, c := range containers {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func hasVolume(volumes []corev1.Volume, name string) bool {
	for _, v := range volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}
