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
