package policies

// Policy names, as used in messages, metrics, config and webhook names.
const (
	ImageRewrite  = "image-rewrite"
	ImageRegistry = "image-registry"
	JobProxy      = "job-proxy"
	FluxPlacement = "flux-placement"
	GatewayHosts  = "gateway-hosts"
)

// Annotations and labels the policies read or write.
const (
	// OriginalImagesAnnotation records, on a pod, the images image-rewrite
	// replaced: a JSON object from container name to the original image.
	// Container names are unique across containers, initContainers and
	// ephemeralContainers of a pod, so the name is a sufficient key.
	OriginalImagesAnnotation = "platform-webhook.flux-infra.io/original-images"

	// IstioAutoImage is the placeholder image Istio's injector replaces
	// (gateway deployments use it); it is never rewritten nor denied.
	IstioAutoImage = "auto"
)

// Istio's names that job-proxy reads or writes.
const (
	// IstioProxyContainer is the sidecar Istio injects. job-proxy never wraps
	// it; as an init container with restartPolicy Always it is a native
	// sidecar, which the kubelet stops by itself.
	IstioProxyContainer = "istio-proxy"
	// IstioInjectLabel on a pod ("true" / "false") overrides the namespace's
	// injection; Istio also reads it as an annotation (legacy) when the label
	// is absent.
	IstioInjectLabel = "sidecar.istio.io/inject"
	// IstioRevisionLabel on a namespace (or a pod) selects the Istio revision
	// that injects its pods.
	IstioRevisionLabel = "istio.io/rev"
	// IstioInjectionLabel on a namespace: "enabled" injects its pods,
	// "disabled" never does.
	IstioInjectionLabel = "istio-injection"
	// IstioStatusAnnotation is what Istio's injector writes on every pod it
	// injects (annotation.SidecarStatus; read back by
	// reapplyOverwrittenContainers in pkg/kube/inject/webhook.go). An
	// istio-proxy container without it is the tenant's customization of the
	// sidecar-to-be (Istio's documented way to tune it, image "auto"), which
	// the injector merges into the proxy it injects.
	IstioStatusAnnotation = "sidecar.istio.io/status"
	// IstioNativeSidecarAnnotation "true" on a pod makes Istio inject
	// istio-proxy as a native sidecar (an init container with restartPolicy
	// Always, Kubernetes 1.29+).
	IstioNativeSidecarAnnotation = "sidecar.istio.io/nativeSidecar"
)

// What job-proxy adds to a pod it wraps.
const (
	// JobProxyInitContainer copies the wrapper into JobProxyVolume.
	JobProxyInitContainer = "job-proxy-install"
	// JobProxyVolume is the emptyDir shared by the init container and the
	// wrapped containers, mounted read-only in the latter at JobProxyDir.
	JobProxyVolume = "job-proxy-bin"
	// JobProxyDir is where JobProxyVolume is mounted.
	JobProxyDir = "/job-proxy"
	// JobProxyWrapperPath is the wrapper binary in every wrapped container:
	// `JobProxyWrapperPath wrap [flags] -- COMMAND...`.
	JobProxyWrapperPath = JobProxyDir + "/platform-webhook"
)
