package corpus

import (
	"fmt"

	istioapiv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources are written as their authors write them (YAML in a
// Git repository), then sent as the apiserver sends unstructured objects:
// JSON with the keys sorted, plus the metadata it sets.

// helmReleaseTenant is tenant-a's release of a chart from its own
// HelmRepository, with a values block of realistic size: allowed.
const helmReleaseTenant = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: shop-api
  namespace: tenant-a
  labels:
    app.kubernetes.io/part-of: shop
    kustomize.toolkit.fluxcd.io/name: tenant-a-apps
    kustomize.toolkit.fluxcd.io/namespace: tenant-a
spec:
  interval: 10m
  timeout: 5m
  serviceAccountName: tenant-a-flux
  chart:
    spec:
      chart: shop-api
      version: ">=2.14.0 <3.0.0"
      interval: 1h
      reconcileStrategy: ChartVersion
      sourceRef:
        kind: HelmRepository
        name: tenant-a-charts
  install:
    crds: CreateReplace
    remediation:
      retries: 3
  upgrade:
    crds: CreateReplace
    cleanupOnFail: true
    remediation:
      retries: 3
      remediateLastFailure: true
  driftDetection:
    mode: enabled
    ignore:
      - paths: ["/spec/replicas"]
        target:
          kind: Deployment
  valuesFrom:
    - kind: ConfigMap
      name: shop-api-values
    - kind: Secret
      name: shop-api-secrets
      valuesKey: values.yaml
  values:
    replicaCount: 3
    image:
      repository: registry.example.com/tenant-a/shop-api
      tag: 2.14.3
      pullPolicy: IfNotPresent
    podAnnotations:
      prometheus.io/scrape: "true"
      prometheus.io/port: "9797"
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {cpu: "1", memory: 512Mi}
    autoscaling:
      enabled: true
      minReplicas: 3
      maxReplicas: 12
      targetCPUUtilizationPercentage: 70
    service:
      type: ClusterIP
      port: 80
      targetPort: http
    ingress:
      enabled: false
    virtualService:
      enabled: true
      gateways: [istio-ingress/public]
      hosts: [shop.a.example.com]
    env:
      LOG_LEVEL: info
      LOG_FORMAT: json
      FEATURE_CHECKOUT_V2: "true"
      FEATURE_RECOMMENDATIONS: "false"
      CACHE_TTL: 5m
      DATABASE_POOL_SIZE: "20"
    postgresql:
      enabled: false
      external:
        host: shop-db.tenant-a.svc.cluster.local
        port: 5432
        database: shop
        existingSecret: shop-api-db
    redis:
      enabled: true
      architecture: replication
      auth:
        existingSecret: shop-api-redis
      replica:
        replicaCount: 2
    podDisruptionBudget:
      enabled: true
      minAvailable: 2
    topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: ScheduleAnyway
    serviceMonitor:
      enabled: true
      interval: 30s
`

// helmReleaseDenied is the same release copied from an infra one: it runs
// as helm-controller and takes its chart from flux-system (two violations).
const helmReleaseDenied = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: redis
  namespace: tenant-a
spec:
  interval: 10m
  serviceAccountName: helm-controller
  chart:
    spec:
      chart: redis
      version: 20.2.1
      sourceRef:
        kind: HelmRepository
        name: bitnami
        namespace: flux-system
  install:
    remediation:
      retries: 3
  values:
    architecture: replication
    auth:
      existingSecret: redis-auth
    replica:
      replicaCount: 2
    metrics:
      enabled: true
`

// virtualService is tenant-a's shop routes on the shared ingress Gateway:
// three hosts it is authorized for (one exact, two under its wildcard).
const virtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop
  namespace: tenant-a
  labels:
    app.kubernetes.io/name: shop-web
    app.kubernetes.io/managed-by: Helm
spec:
  hosts:
    - a.example.com
    - shop.a.example.com
    - api.eu.shop.a.example.com
  gateways:
    - istio-ingress/public
  http:
    - name: api
      match:
        - uri: {prefix: /api/v2/}
          headers:
            x-canary: {exact: "true"}
      route:
        - destination: {host: shop-api-canary.tenant-a.svc.cluster.local, port: {number: 80}}
      timeout: 10s
      retries: {attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,refused-stream"}
    - name: api-stable
      match:
        - uri: {prefix: /api/}
      route:
        - destination: {host: shop-api.tenant-a.svc.cluster.local, port: {number: 80}}
          weight: 100
      timeout: 10s
      corsPolicy:
        allowOrigins: [{exact: "https://shop.a.example.com"}]
        allowMethods: [GET, POST, PUT, DELETE]
        allowHeaders: [authorization, content-type]
        maxAge: 24h
    - name: web
      route:
        - destination: {host: shop-web.tenant-a.svc.cluster.local, port: {number: 80}}
      headers:
        response:
          set:
            strict-transport-security: max-age=31536000; includeSubDomains
`

// virtualServiceDenied claims tenant-b's host next to its own.
const virtualServiceDenied = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: shop-b
  namespace: tenant-a
spec:
  hosts:
    - a.example.com
    - shop.b.example.com
    - api.eu.shop.a.example.com
  gateways:
    - istio-ingress/public
  http:
    - route:
        - destination: {host: shop-web.tenant-a.svc.cluster.local, port: {number: 80}}
`

// Namespaces are the namespaces the corpus's requests are in, with the labels
// policies read: tenant-mesh is injected by Istio.
func Namespaces() []*corev1.Namespace {
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		l := map[string]string{"kubernetes.io/metadata.name": name}
		for k, v := range labels {
			l[k] = v
		}
		return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	return []*corev1.Namespace{
		ns("tenant-a", map[string]string{"toolkit.fluxcd.io/tenant": "tenant-a"}),
		ns("tenant-b", map[string]string{"toolkit.fluxcd.io/tenant": "tenant-b"}),
		ns("tenant-mesh", map[string]string{"toolkit.fluxcd.io/tenant": "tenant-mesh", "istio-injection": "enabled"}),
		ns("flux-system", nil),
		ns("istio-ingress", nil),
	}
}

// Gateways are the cluster's Gateways holding exactly hosts authorized hosts
// (at least 2): half on istio-ingress/public, where tenant-a has
// "a.example.com" and "*.a.example.com" (the hosts of the corpus's
// VirtualServices) and the rest of that half alternates between tenant-a
// and tenant-b, and the other half on further Gateways of up to ten hosts of
// other tenants. The Gateways for more hosts are a superset of those for
// fewer: istio-ingress/public grows, and Gateways are added.
func Gateways(hosts int) []*istionetworkingv1.Gateway {
	public := []string{"tenant-a/a.example.com", "tenant-a/*.a.example.com"}
	for i := len(public); i < max(2, hosts/2); i++ {
		tenant := []string{"a", "b"}[i%2]
		public = append(public, fmt.Sprintf("tenant-%s/h%05d.%s.example.com", tenant, i, tenant))
	}
	out := []*istionetworkingv1.Gateway{gatewayOf("public", public)}
	rest := hosts - len(public)
	for g := 0; rest > 0; g++ {
		var other []string
		for i := 0; i < 10 && rest > 0; i, rest = i+1, rest-1 {
			other = append(other, fmt.Sprintf("tenant-%d/h%d.t%d.example.com", g, i, g))
		}
		out = append(out, gatewayOf(fmt.Sprintf("gw-%04d", g), other))
	}
	return out
}

func gatewayOf(name string, hosts []string) *istionetworkingv1.Gateway {
	return &istionetworkingv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-ingress"},
		Spec: istioapiv1alpha3.Gateway{
			Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*istioapiv1alpha3.Server{{
				Port:  &istioapiv1alpha3.Port{Number: 443, Name: "https", Protocol: "HTTPS"},
				Tls:   &istioapiv1alpha3.ServerTLSSettings{Mode: istioapiv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: name + "-tls"},
				Hosts: hosts,
			}},
		},
	}
}
