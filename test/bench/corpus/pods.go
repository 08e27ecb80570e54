package corpus

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The pods of the corpus are what a Deployment's or a Job's controller sends
// through the apiserver for a chart's pod: defaulted by the apiserver (pull
// policy, termination message, probe timings, tolerations), with the service
// account token volume the ServiceAccount admission plugin adds. The mutating
// webhooks see them that way: built-in admission runs before them.

// Mirror is the registry of manifests/webhook/config.yaml (docker.io is under
// the prefix docker-hub there), the config the benchmarks run on.
const Mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// image is an upstream image and, written out by hand, where image-rewrite
// puts it in the mirror: the image-registry requests carry the latter.
type image struct{ upstream, mirrored string }

var (
	imgPodinfo   = image{"ghcr.io/stefanprodan/podinfo:6.7.1", Mirror + "/ghcr.io/stefanprodan/podinfo:6.7.1"}
	imgBusybox   = image{"busybox:1.36", Mirror + "/docker-hub/library/busybox:1.36"}
	imgShop      = image{"ghcr.io/example-shop/shop-api:2.14.3", Mirror + "/ghcr.io/example-shop/shop-api:2.14.3"}
	imgMigrate   = image{"ghcr.io/example-shop/shop-migrate:2.14.3", Mirror + "/ghcr.io/example-shop/shop-migrate:2.14.3"}
	imgExporter  = image{"quay.io/prometheuscommunity/postgres-exporter:v0.15.0", Mirror + "/quay.io/prometheuscommunity/postgres-exporter:v0.15.0"}
	imgNginx     = image{"nginx:1.27.2-alpine", Mirror + "/docker-hub/library/nginx:1.27.2-alpine"}
	imgFluentBit = image{"docker.io/fluent/fluent-bit:3.1.9@sha256:2b5e232c28c66e9347feb7da7f8fddd04dab93de3da5081f10734a83e5cd1bd1",
		Mirror + "/docker-hub/fluent/fluent-bit:3.1.9@sha256:2b5e232c28c66e9347feb7da7f8fddd04dab93de3da5081f10734a83e5cd1bd1"}
	imgProxy = image{"docker.io/istio/proxyv2:1.24.2", Mirror + "/docker-hub/istio/proxyv2:1.24.2"}
	imgJob   = image{"ghcr.io/example-mesh/report-export:1.8.0", Mirror + "/ghcr.io/example-mesh/report-export:1.8.0"}
)

// podShape says how big a chart's pod is.
type podShape struct {
	name       string // the Deployment
	namespace  string
	init       []image // init containers
	containers []image // regular containers, the first is the app
	env        int     // environment variables of the app container
	sidecarEnv int     // of each other container
	istio      bool    // injected by Istio (istio-init, istio-proxy)
	volumes    int     // configMap / secret volumes beside the token
}

// podSmall is a one-container web app (podinfo's chart): about 3 KB.
var podSmall = podShape{name: "podinfo", namespace: "tenant-a",
	containers: []image{imgPodinfo}, env: 1, volumes: 1}

// podMedium is an API with a migration init container, a database exporter
// and a log shipper: about 9 KB.
var podMedium = podShape{name: "shop-api", namespace: "tenant-a",
	init: []image{imgMigrate}, containers: []image{imgShop, imgExporter, imgFluentBit},
	env: 17, sidecarEnv: 4, volumes: 5}

// podLarge is the medium pod with an nginx front and Istio's sidecar
// injected: about 19 KB.
var podLarge = podShape{name: "shop-web", namespace: "tenant-a",
	init: []image{imgMigrate, imgBusybox}, containers: []image{imgShop, imgNginx, imgExporter, imgFluentBit},
	env: 26, sidecarEnv: 8, istio: true, volumes: 7}

// uid is a fixed, realistic-looking UID derived from a name.
func uid(name string) types.UID {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(name) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return types.UID(fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h), uint16(h>>32), uint16(h>>40)&0xfff, uint16(h>>20)&0xfff, h&0xffffffffffff))
}

// hash is a fixed hex string of n characters derived from a name.
func hash(name string, n int) string {
	out := ""
	for i := 0; len(out) < n; i++ {
		out += string(uid(fmt.Sprint(name, i)))[:8]
	}
	return out[:n]
}

// chartPod builds a Deployment's pod of the given shape. mirrored gives the
// images as image-rewrite leaves them, with its annotation.
func chartPod(s podShape, mirrored bool) *corev1.Pod {
	hashSuffix := hash(s.name, 10)
	labels := map[string]string{
		"app.kubernetes.io/name":       s.name,
		"app.kubernetes.io/instance":   s.name,
		"app.kubernetes.io/version":    "2.14.3",
		"app.kubernetes.io/component":  "server",
		"app.kubernetes.io/part-of":    "shop",
		"app.kubernetes.io/managed-by": "Helm",
		"helm.sh/chart":                s.name + "-2.14.3",
		"pod-template-hash":            hashSuffix,
	}
	annotations := map[string]string{
		"checksum/config":      hash(s.name+"config", 64),
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   "9797",
	}
	if s.volumes > 2 {
		annotations["checksum/secret"] = hash(s.name+"secret", 64)
		annotations["kubectl.kubernetes.io/restartedAt"] = "2026-10-02T09:14:27Z"
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: s.name + "-" + hashSuffix + "-",
			Namespace:    s.namespace,
			Labels:       labels,
			Annotations:  annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: s.name + "-" + hashSuffix,
				UID: uid(s.name + "rs"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: podSpec(s, corev1.RestartPolicyAlways),
	}
	if s.istio {
		istioInject(pod)
	}
	if mirrored {
		mirror(pod, s)
	}
	return pod
}

func podSpec(s podShape, restart corev1.RestartPolicy) corev1.PodSpec {
	token := "kube-api-access-" + hash(s.name+"token", 5)
	spec := corev1.PodSpec{
		RestartPolicy:                 restart,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		ServiceAccountName:            s.name,
		DeprecatedServiceAccount:      s.name,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		SchedulerName:      corev1.DefaultSchedulerName,
		EnableServiceLinks: ptr.To(true),
		PreemptionPolicy:   ptr.To(corev1.PreemptLowerPriority),
		Priority:           ptr.To[int32](0),
		Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		},
	}
	var mounts []corev1.VolumeMount
	for i := range s.volumes {
		name, path := fmt.Sprintf("config-%d", i), fmt.Sprintf("/etc/%s/conf.d/%d", s.name, i)
		src := corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: fmt.Sprintf("%s-config-%d", s.name, i)}, DefaultMode: ptr.To[int32](420)}}
		if i%2 == 1 {
			name, path = fmt.Sprintf("secret-%d", i), fmt.Sprintf("/var/run/secrets/%s/%d", s.name, i)
			src = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: fmt.Sprintf("%s-secret-%d", s.name, i), DefaultMode: ptr.To[int32](420)}}
		}
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true})
	}
	if s.volumes > 2 {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": s.name, "app.kubernetes.io/instance": s.name}},
				TopologyKey:   "kubernetes.io/hostname",
			}}},
		}}
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": s.name}},
		}}
		spec.PriorityClassName = ""
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: token, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
		DefaultMode: ptr.To[int32](420),
	}}})
	tokenMount := corev1.VolumeMount{Name: token, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}

	for i, img := range s.init {
		c := container(fmt.Sprintf("init-%d", i), img.upstream, s.sidecarEnv, nil)
		c.Command = []string{"/bin/sh", "-c"}
		c.Args = []string{"until nc -z postgres 5432; do echo waiting for postgres; sleep 2; done; exec /app/migrate up"}
		c.LivenessProbe = nil // not allowed on init containers
		c.VolumeMounts = append(c.VolumeMounts, tokenMount)
		spec.InitContainers = append(spec.InitContainers, c)
	}
	for i, img := range s.containers {
		env := s.sidecarEnv
		name := fmt.Sprintf("sidecar-%d", i)
		var ports []corev1.ContainerPort
		if i == 0 {
			env, name = s.env, s.name
			ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 9898, Protocol: corev1.ProtocolTCP}, {Name: "http-metrics", ContainerPort: 9797, Protocol: corev1.ProtocolTCP}, {Name: "grpc", ContainerPort: 9999, Protocol: corev1.ProtocolTCP}}
		}
		c := container(name, img.upstream, env, ports)
		if i == 0 {
			c.Command = []string{"./" + s.name}
			c.Args = []string{"--port=9898", "--port-metrics=9797", "--grpc-port=9999", "--level=info", "--random-delay=false", "--random-error=false"}
			c.VolumeMounts = append(mounts, tokenMount)
			if s.volumes > 2 {
				c.StartupProbe = probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}})
				c.StartupProbe.FailureThreshold = 30
			}
		} else {
			c.VolumeMounts = []corev1.VolumeMount{tokenMount}
		}
		spec.Containers = append(spec.Containers, c)
	}
	return spec
}

// container is a chart's container, as the apiserver defaults it.
func container(name, img string, env int, ports []corev1.ContainerPort) corev1.Container {
	c := corev1.Container{
		Name:                     name,
		Image:                    img,
		Ports:                    ports,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	for i := range env {
		switch i % 4 {
		case 0:
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("APP_SETTING_%02d", i), Value: hash(fmt.Sprint(name, i), 12+i%20)})
		case 1:
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("DATABASE_PASSWORD_%02d", i), ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-db"}, Key: fmt.Sprintf("password-%d", i)}}})
		case 2:
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("POD_FIELD_%02d", i), ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}})
		default:
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("FEATURE_FLAGS_%02d", i), ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-flags"}, Key: fmt.Sprintf("flags-%d", i)}}})
		}
	}
	if len(ports) > 0 {
		c.LivenessProbe = probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}})
		c.ReadinessProbe = probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}})
	} else if env > 0 {
		c.LivenessProbe = probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(2020)}})
	}
	return c
}

func probe(h corev1.ProbeHandler) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, InitialDelaySeconds: 5, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
}

// istioInject adds what Istio's injector adds (it runs before
// platform-webhook: configurations are called in name order).
func istioInject(pod *corev1.Pod) {
	pod.Labels["security.istio.io/tlsMode"] = "istio"
	pod.Labels["service.istio.io/canonical-name"] = pod.Labels["app.kubernetes.io/name"]
	pod.Labels["service.istio.io/canonical-revision"] = "2.14.3"
	pod.Annotations["istio.io/rev"] = "default"
	pod.Annotations["kubectl.kubernetes.io/default-container"] = pod.Spec.Containers[0].Name
	pod.Annotations["kubectl.kubernetes.io/default-logs-container"] = pod.Spec.Containers[0].Name
	pod.Annotations["prometheus.io/path"] = "/stats/prometheus"
	pod.Annotations["sidecar.istio.io/status"] = `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}`

	initC := container("istio-init", imgProxy.upstream, 0, nil)
	initC.Args = []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"}
	initC.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(false),
		RunAsGroup: ptr.To[int64](0), RunAsNonRoot: ptr.To(false), RunAsUser: ptr.To[int64](0),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
	}
	pod.Spec.InitContainers = append([]corev1.Container{initC}, pod.Spec.InitContainers...)

	proxy := container("istio-proxy", imgProxy.upstream, 0, []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}})
	proxy.Args = []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"}
	for _, kv := range [][2]string{
		{"PILOT_CERT_PROVIDER", "istiod"}, {"CA_ADDR", "istiod.istio-system.svc:15012"},
		{"PROXY_CONFIG", "{}\n"}, {"ISTIO_META_POD_PORTS", `[{"name":"http","containerPort":9898,"protocol":"TCP"},{"name":"http-metrics","containerPort":9797,"protocol":"TCP"},{"name":"grpc","containerPort":9999,"protocol":"TCP"}]`},
		{"ISTIO_META_APP_CONTAINERS", "shop-web,sidecar-1,sidecar-2,sidecar-3"}, {"GOMEMLIMIT", ""}, {"GOMAXPROCS", ""},
		{"ISTIO_META_CLUSTER_ID", "Kubernetes"}, {"ISTIO_META_NODE_NAME", ""}, {"ISTIO_META_INTERCEPTION_MODE", "REDIRECT"},
		{"ISTIO_META_WORKLOAD_NAME", pod.Labels["app.kubernetes.io/name"]},
		{"ISTIO_META_OWNER", "kubernetes://apis/apps/v1/namespaces/" + pod.Namespace + "/deployments/" + pod.Labels["app.kubernetes.io/name"]},
		{"ISTIO_META_MESH_ID", "cluster.local"}, {"TRUST_DOMAIN", "cluster.local"},
	} {
		proxy.Env = append(proxy.Env, corev1.EnvVar{Name: kv[0], Value: kv[1]})
	}
	for _, kv := range [][2]string{{"POD_NAME", "metadata.name"}, {"POD_NAMESPACE", "metadata.namespace"}, {"INSTANCE_IP", "status.podIP"},
		{"SERVICE_ACCOUNT", "spec.serviceAccountName"}, {"HOST_IP", "status.hostIP"}} {
		proxy.Env = append(proxy.Env, corev1.EnvVar{Name: kv[0], ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: kv[1]}}})
	}
	proxy.Env = append(proxy.Env, corev1.EnvVar{Name: "ISTIO_CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}})
	proxy.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(15021), Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds: 3, PeriodSeconds: 15, SuccessThreshold: 1, FailureThreshold: 4}
	proxy.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(15021), Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds: 3, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 600}
	proxy.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		RunAsGroup: ptr.To[int64](1337), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1337),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	for _, m := range [][2]string{{"workload-socket", "/var/run/secrets/workload-spiffe-uds"}, {"credential-socket", "/var/run/secrets/credential-uds"},
		{"workload-certs", "/var/run/secrets/workload-spiffe-credentials"}, {"istiod-ca-cert", "/var/run/secrets/istio"}, {"istio-data", "/var/lib/istio/data"},
		{"istio-envoy", "/etc/istio/proxy"}, {"istio-token", "/var/run/secrets/tokens"}, {"istio-podinfo", "/etc/istio/pod"}} {
		proxy.VolumeMounts = append(proxy.VolumeMounts, corev1.VolumeMount{Name: m[0], MountPath: m[1]})
	}
	// Istio puts its sidecar second, after the app container.
	pod.Spec.Containers = append(pod.Spec.Containers[:1], append([]corev1.Container{proxy}, pod.Spec.Containers[1:]...)...)

	empty := func(name string, medium corev1.StorageMedium) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium}}}
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes,
		empty("workload-socket", ""), empty("credential-socket", ""), empty("workload-certs", ""), empty("istio-envoy", corev1.StorageMediumMemory), empty("istio-data", ""),
		corev1.Volume{Name: "istio-podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations"}},
		}, DefaultMode: ptr.To[int32](420)}}},
		corev1.Volume{Name: "istio-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "istio-ca", ExpirationSeconds: ptr.To[int64](43200), Path: "istio-token"}},
		}, DefaultMode: ptr.To[int32](420)}}},
		corev1.Volume{Name: "istiod-ca-cert", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "istio-ca-root-cert"}, DefaultMode: ptr.To[int32](420)}}},
	)
}

// mirror rewrites the pod's images as image-rewrite does and records the
// originals, written out here by hand from the image table (never computed by
// the policy under test).
func mirror(pod *corev1.Pod, s podShape) {
	byUpstream := map[string]string{}
	for _, img := range []image{imgPodinfo, imgBusybox, imgShop, imgMigrate, imgExporter, imgNginx, imgFluentBit, imgProxy, imgJob} {
		byUpstream[img.upstream] = img.mirrored
	}
	originals := map[string]string{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			m, ok := byUpstream[c.Image]
			if !ok {
				panic("corpus: no mirrored image for " + c.Image)
			}
			originals[c.Name] = c.Image
			c.Image = m
		}
	}
	b, _ := json.Marshal(originals)
	pod.Annotations["platform-webhook.flux-infra.io/original-images"] = string(b)
}

// jobPod is a pod of a CronJob's Job in tenant-mesh, whose namespace Istio
// injects (istio-injection: enabled): istio-init and istio-proxy are there
// already, as they would be when job-proxy sees it.
func jobPod() *corev1.Pod {
	s := podShape{name: "report-export", namespace: "tenant-mesh", containers: []image{imgJob}, env: 10, volumes: 2}
	jobName := "report-export-29345670"
	controllerUID := uid(jobName)
	labels := map[string]string{
		"batch.kubernetes.io/controller-uid": string(controllerUID),
		"batch.kubernetes.io/job-name":       jobName,
		"controller-uid":                     string(controllerUID),
		"job-name":                           jobName,
		"app.kubernetes.io/name":             s.name,
		"app.kubernetes.io/instance":         s.name,
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: jobName + "-",
			Namespace:    s.namespace,
			Labels:       labels,
			Annotations:  map[string]string{"batch.kubernetes.io/job-tracking": ""},
			Finalizers:   []string{"batch.kubernetes.io/job-tracking"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: jobName,
				UID: controllerUID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: podSpec(s, corev1.RestartPolicyNever),
	}
	pod.Spec.Containers[0].Ports = nil
	pod.Spec.Containers[0].LivenessProbe, pod.Spec.Containers[0].ReadinessProbe, pod.Spec.Containers[0].StartupProbe = nil, nil, nil
	pod.Spec.Containers[0].Command = []string{"/report-export"}
	pod.Spec.Containers[0].Args = []string{"--since=24h", "--bucket=s3://tenant-mesh-reports", "--format=parquet"}
	istioInject(pod)
	return pod
}
