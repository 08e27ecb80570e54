package policies

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// JobProxyStrategy is how job-proxy makes a Job's containers and istio-proxy
// start and stop together.
type JobProxyStrategy string

const (
	// JobProxyWrapper wraps each container's command in `platform-webhook
	// wrap`, copied into the pod by an init container: it waits for the
	// proxy, runs the command, then stops the proxy. Works on any Kubernetes.
	JobProxyWrapper JobProxyStrategy = "wrapper"
	// JobProxyNative annotates the pod so Istio injects istio-proxy as a
	// Kubernetes native sidecar (Kubernetes 1.29+), which starts before the
	// containers and is stopped by the kubelet after them. No command is
	// touched.
	JobProxyNative JobProxyStrategy = "native"
	// JobProxyAuto (the default) is native when NativeSidecars is set,
	// wrapper otherwise.
	JobProxyAuto JobProxyStrategy = "auto"
)

// Every strategy acts only where Istio's injector will add istio-proxy as a
// regular container: where it adds none, or a native sidecar (which the
// kubelet starts first and stops last by itself), job-proxy leaves the pod
// alone. The strategy says what to do where the proxy will be regular.

// IstioNativeSidecarMode is istiod's ENABLE_NATIVE_SIDECARS setting
// (pilot/pkg/features/pilot.go): whether the injector makes istio-proxy a
// native sidecar when the pod does not say.
type IstioNativeSidecarMode string

// UnmarshalJSON takes the mode as a string or as YAML's unquoted true and
// false (what one writes for ENABLE_NATIVE_SIDECARS: false).
func (m *IstioNativeSidecarMode) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "false":
		*m = IstioNativeSidecarMode(b)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// A type error, so the config loader names the field and its line.
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeOf("")}
	}
	*m = IstioNativeSidecarMode(s)
	return nil
}

// jsonKind names the kind of a JSON value as encoding/json's errors do.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "value"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == '"':
		return "string"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

const (
	// IstioNativeSidecarsAuto is istiod's default since Istio 1.27: native
	// when every Node's kubelet (or the pod's Node's) is 1.33 or newer.
	IstioNativeSidecarsAuto IstioNativeSidecarMode = "auto"
	// IstioNativeSidecarsTrue: istiod runs ENABLE_NATIVE_SIDECARS=true.
	IstioNativeSidecarsTrue IstioNativeSidecarMode = "true"
	// IstioNativeSidecarsFalse: istiod runs ENABLE_NATIVE_SIDECARS=false.
	IstioNativeSidecarsFalse IstioNativeSidecarMode = "false"
)

// Defaults of JobProxyConfig.
const (
	// DefaultJobProxyHelperImage is the webhook's own image: the wrapper is
	// its binary, /platform-webhook. Keep it in step with the image of
	// manifests/webhook/kustomization.yaml.
	DefaultJobProxyHelperImage = "ghcr.io/flux-infra/platform-webhook:v0.1.0"
	// DefaultJobProxyReadyTimeout is how long the wrapper waits for
	// istio-proxy to be ready before it gives up (and fails the container).
	DefaultJobProxyReadyTimeout = 5 * time.Minute
)

// JobProxyConfig configures the job-proxy policy.
type JobProxyConfig struct {
	// Strategy is auto (the default), wrapper or native: what job-proxy does
	// where the proxy will be a regular container.
	Strategy JobProxyStrategy `json:"strategy,omitempty"`
	// NativeSidecars says every kubelet supports native sidecars (Kubernetes
	// 1.29+), so job-proxy may ask Istio for one with the pod annotation:
	// with it, auto means native. Unset, job-proxy reads it from the Nodes'
	// kubelet versions: a pod the wrapper cannot handle (a container with no
	// command) is annotated instead of denied where they are all 1.29+.
	NativeSidecars bool `json:"nativeSidecars,omitempty"`
	// IstioNativeSidecars is istiod's ENABLE_NATIVE_SIDECARS: auto (the
	// default, as Istio's), true or false.
	IstioNativeSidecars IstioNativeSidecarMode `json:"istioNativeSidecars,omitempty"`
	// HelperImage holds the wrapper at /platform-webhook (the webhook's own
	// image). The init container that copies it runs as user 65532, so the
	// image needs no shell.
	HelperImage string `json:"helperImage,omitempty"`
	// ReadyTimeout is how long a wrapped container waits for istio-proxy to
	// be ready, a Go duration ("5m", "90s"); after it, the container fails
	// without running its command.
	ReadyTimeout string `json:"readyTimeout,omitempty"`
}

// Default fills in unset fields.
func (c *JobProxyConfig) Default() {
	if c.Strategy == "" {
		c.Strategy = JobProxyAuto
	}
	if c.IstioNativeSidecars == "" {
		c.IstioNativeSidecars = IstioNativeSidecarsAuto
	}
	if c.HelperImage == "" {
		c.HelperImage = DefaultJobProxyHelperImage
	}
	if c.ReadyTimeout == "" {
		c.ReadyTimeout = "5m" // DefaultJobProxyReadyTimeout, as one writes it
	}
}

// Validate checks the settings and names the bad fields
// ("policies.jobProxy.strategy: Unsupported value: ...").
func (c JobProxyConfig) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch c.Strategy {
	case JobProxyWrapper, JobProxyNative, JobProxyAuto:
	default:
		errs = append(errs, field.NotSupported(path.Child("strategy"), c.Strategy,
			[]JobProxyStrategy{JobProxyWrapper, JobProxyNative, JobProxyAuto}))
	}
	switch c.IstioNativeSidecars {
	case IstioNativeSidecarsAuto, IstioNativeSidecarsTrue, IstioNativeSidecarsFalse:
	default:
		errs = append(errs, field.NotSupported(path.Child("istioNativeSidecars"), c.IstioNativeSidecars,
			[]IstioNativeSidecarMode{IstioNativeSidecarsAuto, IstioNativeSidecarsTrue, IstioNativeSidecarsFalse}))
	}
	p := path.Child("helperImage")
	if c.HelperImage == "" {
		errs = append(errs, field.Required(p, ""))
	} else if _, err := parseImage(c.HelperImage); err != nil {
		errs = append(errs, field.Invalid(p, c.HelperImage,
			fmt.Sprintf("must be an image reference such as %q", DefaultJobProxyHelperImage)))
	}
	p = path.Child("readyTimeout")
	if c.ReadyTimeout == "" {
		errs = append(errs, field.Required(p, ""))
	} else if d, err := time.ParseDuration(c.ReadyTimeout); err != nil {
		errs = append(errs, field.Invalid(p, c.ReadyTimeout, `must be a duration such as "5m" or "90s"`))
	} else if d < time.Second {
		errs = append(errs, field.Invalid(p, c.ReadyTimeout, `must be at least "1s"`))
	}
	return errs
}

// readyTimeout is ReadyTimeout parsed (the default if it does not parse:
// Validate reports that).
func (c JobProxyConfig) readyTimeout() time.Duration {
	d, err := time.ParseDuration(c.ReadyTimeout)
	if err != nil || d < time.Second {
		return DefaultJobProxyReadyTimeout
	}
	return d
}

// preferNative says whether a pod whose proxy would be a regular container
// is annotated for a native one rather than wrapped.
func (c JobProxyConfig) preferNative() bool {
	return c.Strategy == JobProxyNative || (c.Strategy == JobProxyAuto && c.NativeSidecars)
}
