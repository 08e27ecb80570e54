package policies

import (
	"encoding/json"
	"reflect"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fluxTestConfig is the default configuration, as the config file yields it.
func fluxTestConfig() FluxPlacementConfig {
	var cfg FluxPlacementConfig
	cfg.Default()
	return cfg
}

// fluxTestSharedConfig shares two source namespaces (unsorted, one twice).
func fluxTestSharedConfig() FluxPlacementConfig {
	cfg := fluxTestConfig()
	cfg.AllowedSourceNamespaces = []string{"flux-system", "charts", "flux-system"}
	return cfg
}

// fluxTestKubeConfig is a spec.kubeConfig naming a Secret (HelmRelease and
// Kustomization share its type).
func fluxTestKubeConfig(t *testing.T) *helmv2.HelmReleaseSpec {
	t.Helper()
	var spec helmv2.HelmReleaseSpec
	if err := json.Unmarshal([]byte(`{"kubeConfig": {"secretRef": {"name": "prod-kubeconfig"}}}`), &spec); err != nil || spec.KubeConfig == nil {
		t.Fatalf("kubeConfig: %v", err)
	}
	return &spec
}

func TestFluxPlacementName(t *testing.T) {
	p := NewFluxPlacement(fluxTestConfig())
	if got := p.HelmReleases().Name(); got != "flux-placement" {
		t.Errorf("HelmReleases().Name() = %q, want %q", got, "flux-placement")
	}
	if got := p.Kustomizations().Name(); got != "flux-placement" {
		t.Errorf("Kustomizations().Name() = %q, want %q", got, "flux-placement")
	}
}

func TestFluxPlacementHelmRelease(t *testing.T) {
	// chart is a chart template from a HelmRepository in namespace ns ("" for
	// the release's own).
	chart := func(ns string) *helmv2.HelmChartTemplate {
		return &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{
			Chart:     "podinfo",
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "podinfo", Namespace: ns},
		}}
	}
	ociChart := func(ns string) *helmv2.CrossNamespaceSourceReference {
		return &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: "podinfo", Namespace: ns}
	}
	kubeConfig := fluxTestKubeConfig(t).KubeConfig

	tests := []struct {
		name string
		cfg  FluxPlacementConfig
		ns   string
		spec helmv2.HelmReleaseSpec
		want []string
	}{
		// Infra namespace.
		{
			name: "infra release as helm-controller with a target namespace",
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), TargetNamespace: "cert-manager", ServiceAccountName: "helm-controller"},
		},
		{
			name: "infra release may use sources of any namespace, a storage namespace and a kubeconfig",
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{Chart: chart("infra-sources"), TargetNamespace: "cert-manager", StorageNamespace: "cert-manager",
				ServiceAccountName: "helm-controller", KubeConfig: kubeConfig},
		},
		{
			name: "infra release as default without a target namespace",
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "default"},
			want: []string{
				`spec.serviceAccountName: must be "helm-controller" for releases in flux-system (found "default")`,
				`spec.targetNamespace: must be set for releases in flux-system, to the namespace the release installs into (found none)`,
			},
		},
		{
			name: "infra release without a service account",
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{ChartRef: ociChart(""), TargetNamespace: "kube-system"},
			want: []string{
				`spec.serviceAccountName: must be "helm-controller" for releases in flux-system (found none)`,
			},
		},
		{
			name: "infra release as kustomize-controller",
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), TargetNamespace: "istio-system", ServiceAccountName: "kustomize-controller"},
			want: []string{
				`spec.serviceAccountName: must be "helm-controller" for releases in flux-system (found "kustomize-controller")`,
			},
		},
		{
			name: "configured infra namespace and account",
			cfg:  FluxPlacementConfig{InfraNamespace: "platform", HelmControllerServiceAccount: "flux-helm", KustomizeControllerServiceAccount: "flux-kustomize"},
			ns:   "platform",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), TargetNamespace: "cert-manager", ServiceAccountName: "helm-controller"},
			want: []string{
				`spec.serviceAccountName: must be "flux-helm" for releases in platform (found "helm-controller")`,
			},
		},
		{
			name: "flux-system is a tenant namespace when another is the infra namespace",
			cfg:  FluxPlacementConfig{InfraNamespace: "platform", HelmControllerServiceAccount: "flux-helm", KustomizeControllerServiceAccount: "flux-kustomize"},
			ns:   "flux-system",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), TargetNamespace: "cert-manager", ServiceAccountName: "flux-helm"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "flux-system", not a Flux controller's (found "flux-helm")`,
				`spec.targetNamespace: must be unset or "flux-system", the namespace of the release (found "cert-manager")`,
			},
		},

		// Tenant namespaces.
		{
			name: "tenant release with its own account and sources",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "team-a-deployer"},
		},
		{
			name: "tenant release naming its own namespace everywhere",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart("team-a"), TargetNamespace: "team-a", StorageNamespace: "team-a", ServiceAccountName: "team-a-deployer"},
		},
		{
			name: "tenant release from an OCIRepository of its namespace",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{ChartRef: ociChart("team-a"), ServiceAccountName: "deployer"},
		},
		{
			name: "tenant release without a service account",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart("")},
			want: []string{
				`spec.serviceAccountName: must be set to a service account of namespace "team-a" (found none)`,
			},
		},
		{
			name: "tenant release as helm-controller",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "helm-controller"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "helm-controller")`,
			},
		},
		{
			name: "tenant release as source-controller",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "source-controller"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "source-controller")`,
			},
		},
		{
			name: "the configured controller accounts are always forbidden to tenants",
			cfg: FluxPlacementConfig{InfraNamespace: "flux-system", HelmControllerServiceAccount: "flux-helm",
				KustomizeControllerServiceAccount: "flux-kustomize", ControllerServiceAccounts: []string{"flux-source"}},
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "flux-kustomize"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "flux-kustomize")`,
			},
		},
		{
			name: "tenant release installing into another namespace",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), TargetNamespace: "kube-system", ServiceAccountName: "deployer"},
			want: []string{
				`spec.targetNamespace: must be unset or "team-a", the namespace of the release (found "kube-system")`,
			},
		},
		{
			name: "tenant release storing its state in another namespace",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), StorageNamespace: "flux-system", ServiceAccountName: "deployer"},
			want: []string{
				`spec.storageNamespace: must be unset or "team-a", the namespace of the release (found "flux-system")`,
			},
		},
		{
			name: "tenant release on another cluster",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart(""), ServiceAccountName: "deployer", KubeConfig: kubeConfig},
			want: []string{
				`spec.kubeConfig: must be unset (a release in "team-a" applies to this cluster only)`,
			},
		},
		{
			name: "tenant release with a chart of another tenant",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart("team-b"), ServiceAccountName: "deployer"},
			want: []string{
				`spec.chart.spec.sourceRef.namespace: must be unset or "team-a", the namespace of the release (found "team-b")`,
			},
		},
		{
			name: "tenant release with an OCI chart of flux-system, nothing shared",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{ChartRef: ociChart("flux-system"), ServiceAccountName: "deployer"},
			want: []string{
				`spec.chartRef.namespace: must be unset or "team-a", the namespace of the release (found "flux-system")`,
			},
		},
		{
			name: "tenant release with charts of shared source namespaces",
			cfg:  fluxTestSharedConfig(),
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{Chart: chart("charts"), ChartRef: ociChart("flux-system"), ServiceAccountName: "deployer"},
		},
		{
			name: "tenant release with a chart of another tenant, some shared",
			cfg:  fluxTestSharedConfig(),
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{ChartRef: ociChart("team-b"), ServiceAccountName: "deployer"},
			want: []string{
				`spec.chartRef.namespace: must be unset or "team-a", the namespace of the release, or a shared source namespace: "charts", "flux-system" (found "team-b")`,
			},
		},
		{
			name: "every tenant rule broken at once, sorted by field",
			ns:   "team-a",
			spec: helmv2.HelmReleaseSpec{
				Chart: chart("team-b"), ChartRef: ociChart("flux-system"), KubeConfig: kubeConfig,
				TargetNamespace: "cert-manager", StorageNamespace: "flux-system", ServiceAccountName: "kustomize-controller",
			},
			want: []string{
				`spec.chart.spec.sourceRef.namespace: must be unset or "team-a", the namespace of the release (found "team-b")`,
				`spec.chartRef.namespace: must be unset or "team-a", the namespace of the release (found "flux-system")`,
				`spec.kubeConfig: must be unset (a release in "team-a" applies to this cluster only)`,
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "kustomize-controller")`,
				`spec.storageNamespace: must be unset or "team-a", the namespace of the release (found "flux-system")`,
				`spec.targetNamespace: must be unset or "team-a", the namespace of the release (found "cert-manager")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.InfraNamespace == "" {
				cfg = fluxTestConfig()
			}
			hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: tt.ns}, Spec: tt.spec}
			before := hr.DeepCopy()
			var got []string
			for _, v := range NewFluxPlacement(cfg).HelmReleases().Validate(Request{Operation: "CREATE", Namespace: tt.ns, Name: "podinfo"}, hr) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() violations:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(hr, before) {
				t.Errorf("Validate() changed the HelmRelease")
			}
		})
	}
}

func TestFluxPlacementKustomization(t *testing.T) {
	source := func(ns string) kustomizev1.CrossNamespaceSourceReference {
		return kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "apps", Namespace: ns}
	}
	kubeConfig := fluxTestKubeConfig(t).KubeConfig

	tests := []struct {
		name string
		cfg  FluxPlacementConfig
		ns   string
		spec kustomizev1.KustomizationSpec
		want []string
	}{
		// Infra namespace.
		{
			name: "infra kustomization as kustomize-controller, no target namespace needed",
			ns:   "flux-system",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), Path: "./infrastructure", ServiceAccountName: "kustomize-controller"},
		},
		{
			name: "infra kustomization may target a namespace, use sources anywhere and a kubeconfig",
			ns:   "flux-system",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("infra-sources"), TargetNamespace: "istio-system",
				ServiceAccountName: "kustomize-controller", KubeConfig: kubeConfig},
		},
		{
			name: "infra kustomization without a service account",
			ns:   "flux-system",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), Path: "./infrastructure"},
			want: []string{
				`spec.serviceAccountName: must be "kustomize-controller" for kustomizations in flux-system (found none)`,
			},
		},
		{
			name: "infra kustomization as helm-controller",
			ns:   "flux-system",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), ServiceAccountName: "helm-controller"},
			want: []string{
				`spec.serviceAccountName: must be "kustomize-controller" for kustomizations in flux-system (found "helm-controller")`,
			},
		},
		{
			name: "configured kustomize account",
			cfg:  FluxPlacementConfig{InfraNamespace: "flux-system", HelmControllerServiceAccount: "helm-controller", KustomizeControllerServiceAccount: "flux-applier"},
			ns:   "flux-system",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), ServiceAccountName: "kustomize-controller"},
			want: []string{
				`spec.serviceAccountName: must be "flux-applier" for kustomizations in flux-system (found "kustomize-controller")`,
			},
		},

		// Tenant namespaces.
		{
			name: "tenant kustomization with its own account and source",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), Path: "./apps", ServiceAccountName: "team-a-deployer"},
		},
		{
			name: "tenant kustomization naming its own namespace",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("team-a"), TargetNamespace: "team-a", ServiceAccountName: "deployer"},
		},
		{
			name: "tenant kustomization without a service account",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("")},
			want: []string{
				`spec.serviceAccountName: must be set to a service account of namespace "team-a" (found none)`,
			},
		},
		{
			name: "tenant kustomization as kustomize-controller",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), ServiceAccountName: "kustomize-controller"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "kustomize-controller")`,
			},
		},
		{
			name: "tenant kustomization as notification-controller",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), ServiceAccountName: "notification-controller"},
			want: []string{
				`spec.serviceAccountName: must be a service account of namespace "team-a", not a Flux controller's (found "notification-controller")`,
			},
		},
		{
			name: "tenant kustomization targeting another namespace",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), TargetNamespace: "team-b", ServiceAccountName: "deployer"},
			want: []string{
				`spec.targetNamespace: must be unset or "team-a", the namespace of the kustomization (found "team-b")`,
			},
		},
		{
			name: "tenant kustomization on another cluster",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source(""), ServiceAccountName: "deployer", KubeConfig: kubeConfig},
			want: []string{
				`spec.kubeConfig: must be unset (a kustomization in "team-a" applies to this cluster only)`,
			},
		},
		{
			name: "tenant kustomization with the platform's repository",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("flux-system"), ServiceAccountName: "deployer"},
			want: []string{
				`spec.sourceRef.namespace: must be unset or "team-a", the namespace of the kustomization (found "flux-system")`,
			},
		},
		{
			name: "tenant kustomization with a shared repository",
			cfg:  fluxTestSharedConfig(),
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("flux-system"), ServiceAccountName: "deployer"},
		},
		{
			name: "tenant kustomization with another tenant's repository, some shared",
			cfg:  fluxTestSharedConfig(),
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("team-b"), ServiceAccountName: "deployer"},
			want: []string{
				`spec.sourceRef.namespace: must be unset or "team-a", the namespace of the kustomization, or a shared source namespace: "charts", "flux-system" (found "team-b")`,
			},
		},
		{
			name: "every tenant rule broken at once, sorted by field",
			ns:   "team-a",
			spec: kustomizev1.KustomizationSpec{SourceRef: source("team-b"), TargetNamespace: "kube-system", KubeConfig: kubeConfig},
			want: []string{
				`spec.kubeConfig: must be unset (a kustomization in "team-a" applies to this cluster only)`,
				`spec.serviceAccountName: must be set to a service account of namespace "team-a" (found none)`,
				`spec.sourceRef.namespace: must be unset or "team-a", the namespace of the kustomization (found "team-b")`,
				`spec.targetNamespace: must be unset or "team-a", the namespace of the kustomization (found "kube-system")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.InfraNamespace == "" {
				cfg = fluxTestConfig()
			}
			ks := &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: tt.ns}, Spec: tt.spec}
			before := ks.DeepCopy()
			var got []string
			for _, v := range NewFluxPlacement(cfg).Kustomizations().Validate(Request{Operation: "CREATE", Namespace: tt.ns, Name: "apps"}, ks) {
				got = append(got, v.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() violations:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(ks, before) {
				t.Errorf("Validate() changed the Kustomization")
			}
		})
	}
}

// TestFluxPlacementRequestNamespace: the namespace of the request decides, as
// the apiserver sets it; the object's own is only a fallback.
func TestFluxPlacementRequestNamespace(t *testing.T) {
	p := NewFluxPlacement(fluxTestConfig())
	hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "flux-system"},
		Spec: helmv2.HelmReleaseSpec{TargetNamespace: "cert-manager", ServiceAccountName: "helm-controller"}}

	got := p.HelmReleases().Validate(Request{Operation: "UPDATE", Namespace: "team-a"}, hr)
	want := []Violation{
		{Field: "spec.serviceAccountName", Detail: `must be a service account of namespace "team-a", not a Flux controller's (found "helm-controller")`},
		{Field: "spec.targetNamespace", Detail: `must be unset or "team-a", the namespace of the release (found "cert-manager")`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request in team-a: %q, want %q", got, want)
	}
	if got := p.HelmReleases().Validate(Request{Operation: "CREATE"}, hr); got != nil {
		t.Errorf("no request namespace, object in flux-system: %q, want none", got)
	}
	if got := p.HelmReleases().Validate(Request{Operation: "CREATE"}, nil); got != nil {
		t.Errorf("nil HelmRelease: %q", got)
	}
	if got := p.Kustomizations().Validate(Request{Operation: "CREATE"}, nil); got != nil {
		t.Errorf("nil Kustomization: %q", got)
	}
}
