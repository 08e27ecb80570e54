package policies

import (
	"fmt"
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
	// JobProxyAuto is native when NativeSidecars says the cluster supports
	// native sidecars, wrapper otherwise.
	JobProxyAuto JobProxyStrategy = "auto"
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
	// Strategy is wrapper (the default), native or auto.
	Strategy JobProxyStrategy `json:"strategy,omitempty"`
	// NativeSidecars says the cluster (Kubernetes 1.29+) and its Istio
	// support native sidecars. With it, auto means native, and the wrapper
	// strategy turns to native for a pod it cannot wrap (a container with no
	// command) instead of denying it.
	NativeSidecars bool `json:"nativeSidecars,omitempty"`
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
		c.Strategy = JobProxyWrapper
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

// native says whether pods should get native sidecars rather than wrappers.
func (c JobProxyConfig) native() bool {
	return c.Strategy == JobProxyNative || (c.Strategy == JobProxyAuto && c.NativeSidecars)
}

// nativeAllowed says whether native sidecars may be used at all (the
// fallback for a pod the wrapper cannot handle).
func (c JobProxyConfig) nativeAllowed() bool {
	return c.Strategy == JobProxyNative || c.NativeSidecars
}
