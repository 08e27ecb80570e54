package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// Kyverno as a peer on the image-rewrite pod paths (issue 26): its
// admission controller (cmd/kyverno, built by test/tools/kyverno.sh) runs out
// of cluster against the harness's apiserver, pinned to the servers' CPU,
// with a ClusterPolicy doing image-rewrite's rewrite (kyverno_policy.go). It
// is reported beside the two servers, never as a target.
//
// It runs as a replica that is not the leader: the benchmark holds the
// leader Lease and does the leader's work itself, as another replica
// would: the CA and TLS secrets (Kyverno's certmanager controller), the
// policy's Ready condition (the webhook controller, updatePolicyStatuses).
// A leader would also create webhook configurations for every resource
// (with --autoUpdateWebhooks=false, buildDefaultResourceMutatingWebhookConfiguration),
// sending every write the harness's apiserver takes (leases, events, the
// other phases' objects) through Kyverno on the servers' CPU. The load
// generator posts to the mutating endpoint straight away, as to the others.

// Names as the Helm chart sets them (charts/kyverno, release "kyverno").
const (
	kyvernoNamespace      = "kyverno"
	kyvernoDeployment     = "kyverno-admission-controller"
	kyvernoService        = "kyverno-svc"
	kyvernoCASecret       = "kyverno-svc.kyverno.svc.kyverno-tls-ca"
	kyvernoTLSSecret      = "kyverno-svc.kyverno.svc.kyverno-tls-pair"
	kyvernoConfigMap      = "kyverno"
	kyvernoMetricsConfig  = "kyverno-metrics"
	kyvernoServiceAccount = "kyverno-admission-controller"
	// kyvernoMutatePath is the endpoint of Kyverno's mutating webhook for
	// policies with failurePolicy Fail (pkg/webhooks/server.go,
	// registerWebhookHandlers: config.MutatingWebhookServicePath + "/fail").
	kyvernoMutatePath = "/mutate/fail"
	// kyvernoLease is the leader election Lease (cmd/kyverno/main.go,
	// leaderelection.New(..., "kyverno", config.KyvernoNamespace(), ...)).
	kyvernoLease = "kyverno"
)

// kyvernoBuild is the built Kyverno: its binary, its CRD folder, its version.
type kyvernoBuild struct {
	Bin, CRDs, Version string
}

// buildKyverno runs test/tools/kyverno.sh (a build of about 12 minutes of
// CPU the first time, cached afterwards); its progress goes to stderr.
func buildKyverno(root string) (*kyvernoBuild, error) {
	script := filepath.Join(root, "test", "tools", "kyverno.sh")
	out := func(mode string) (string, error) {
		cmd := exec.Command(script, mode)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		b, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", script, mode, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	bin, err := out("bin")
	if err != nil {
		return nil, err
	}
	crds, err := out("crds")
	if err != nil {
		return nil, err
	}
	version := "unknown"
	if b, err := os.ReadFile(filepath.Join(root, "test", "tools", "versions.env")); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "KYVERNO_VERSION="); ok {
				version = strings.TrimSpace(v)
			}
		}
	}
	return &kyvernoBuild{Bin: bin, CRDs: crds, Version: version}, nil
}

// setUpKyverno installs what Kyverno's admission controller reads: its
// CRDs, namespace, ConfigMaps (the chart's defaults), the leader Lease
// held by the benchmark, the CA and TLS secrets, and the policy, Ready.
func setUpKyverno(ctx context.Context, c *harness.Cluster, kb *kyvernoBuild, policy *unstructured.Unstructured) (harness.Issued, error) {
	var issued harness.Issued
	if _, err := envtest.InstallCRDs(c.Env.Config, envtest.CRDInstallOptions{Paths: []string{kb.CRDs}, ErrorIfPathMissing: true}); err != nil {
		return issued, fmt.Errorf("installing Kyverno's CRDs: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kyvernoNamespace}}
	issued, err := harness.IssueServingCert("kyverno-ca", kyvernoService+"."+kyvernoNamespace+".svc")
	if err != nil {
		return issued, err
	}
	now := metav1.NewMicroTime(time.Now())
	objs := []client.Object{
		ns,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: kyvernoNamespace, Name: kyvernoConfigMap}, Data: kyvernoConfig()},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: kyvernoNamespace, Name: kyvernoMetricsConfig}, Data: kyvernoMetricsConfigData()},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kyvernoNamespace, Name: kyvernoCASecret},
			Data: map[string][]byte{corev1.TLSCertKey: issued.CAPEM}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kyvernoNamespace, Name: kyvernoTLSSecret}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: issued.CertPEM, corev1.TLSPrivateKeyKey: issued.KeyPEM}},
		// Held for a day: client-go's elector waits LeaseDurationSeconds
		// from when it first sees the record before it takes over.
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: kyvernoNamespace, Name: kyvernoLease},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("platform-webhook-bench"), LeaseDurationSeconds: ptr.To[int32](86400), AcquireTime: &now, RenewTime: &now}},
		policy,
	}
	for _, o := range objs {
		if err := c.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return issued, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	// The Ready condition the leader's webhook controller sets once the
	// policy is in the webhook configurations (pkg/controllers/webhook,
	// updatePolicyStatuses; PolicyStatus.SetReady): the policy cache only
	// takes Ready policies (pkg/controllers/policycache, WarmUp and reconcile).
	return issued, markPolicyReady(ctx, c.Client, policy)
}

// markPolicyReady sets the policy's Ready condition, as the leader would.
func markPolicyReady(ctx context.Context, c client.Client, policy *unstructured.Unstructured) error {
	cond := map[string]any{
		"type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
	if err := unstructured.SetNestedSlice(policy.Object, []any{cond}, "status", "conditions"); err != nil {
		return err
	}
	if err := c.Status().Update(ctx, policy); err != nil {
		return fmt.Errorf("setting the policy's Ready condition: %w", err)
	}
	return nil
}

// kyvernoConfig is the chart's default ConfigMap (charts/kyverno/values.yaml,
// config:): the default registry, the groups excluded, and the resource
// filters every request is matched against (kube-system among them, as
// image-rewrite's excludeNamespaces).
func kyvernoConfig() map[string]string {
	filters := []string{
		"[Event,*,*]", "[*/*,kube-system,*]", "[*/*,kube-public,*]", "[*/*,kube-node-lease,*]",
		"[Node,*,*]", "[Node/?*,*,*]", "[APIService,*,*]", "[APIService/?*,*,*]",
		"[TokenReview,*,*]", "[SubjectAccessReview,*,*]", "[SelfSubjectAccessReview,*,*]",
		"[Binding,*,*]", "[Pod/binding,*,*]", "[ReplicaSet,*,*]", "[ReplicaSet/?*,*,*]",
		"[EphemeralReport,*,*]", "[ClusterEphemeralReport,*,*]",
	}
	// excludeKyvernoNamespace: true prepends the namespace.
	filters = append([]string{"[*/*,kyverno,*]"}, filters...)
	controllers := []string{"admission-controller", "background-controller", "cleanup-controller", "reports-controller"}
	for _, c := range controllers {
		for _, suffix := range []string{"", ":core", ":additional"} {
			filters = append(filters, "[ClusterRole,*,kyverno:"+c+suffix+"]")
		}
	}
	for _, c := range controllers {
		filters = append(filters, "[ClusterRoleBinding,*,kyverno:"+c+"]")
	}
	for _, c := range controllers {
		filters = append(filters, "[ServiceAccount,kyverno,kyverno-"+c+"]", "[ServiceAccount/?*,kyverno,kyverno-"+c+"]")
	}
	for _, kind := range []string{"Role", "RoleBinding"} {
		for _, c := range controllers {
			filters = append(filters, "["+kind+",kyverno,kyverno:"+c+"]")
		}
	}
	filters = append(filters, "[ConfigMap,kyverno,kyverno]", "[ConfigMap,kyverno,kyverno-metrics]")
	for _, kind := range []string{"Deployment", "Pod"} {
		for _, c := range controllers {
			name := "kyverno-" + c
			if kind == "Pod" {
				name += "-*"
			}
			filters = append(filters, "["+kind+",kyverno,"+name+"]", "["+kind+"/?*,kyverno,"+name+"]")
		}
	}
	filters = append(filters, "[Job,kyverno,kyverno-hook-pre-delete]", "[Job/?*,kyverno,kyverno-hook-pre-delete]")
	for _, kind := range []string{"NetworkPolicy", "PodDisruptionBudget"} {
		for _, c := range controllers {
			filters = append(filters, "["+kind+",kyverno,kyverno-"+c+"]", "["+kind+"/?*,kyverno,kyverno-"+c+"]")
		}
	}
	for _, name := range []string{"kyverno-svc", "kyverno-svc-metrics", "kyverno-background-controller-metrics",
		"kyverno-cleanup-controller", "kyverno-cleanup-controller-metrics", "kyverno-reports-controller-metrics"} {
		filters = append(filters, "[Service,kyverno,"+name+"]", "[Service/?*,kyverno,"+name+"]")
	}
	for _, c := range controllers {
		filters = append(filters, "[ServiceMonitor,kyverno,kyverno-"+c+"]")
	}
	filters = append(filters, "[Secret,kyverno,kyverno-svc.kyverno.svc.*]", "[Secret,kyverno,kyverno-cleanup-controller.kyverno.svc.*]")
	return map[string]string{
		"enableDefaultRegistryMutation": "true",
		"defaultRegistry":               "docker.io",
		"generateSuccessEvents":         "false",
		"excludeGroups":                 "system:nodes",
		"resourceFilters":               strings.Join(filters, " "),
		"updateRequestThreshold":        "1000",
	}
}

// kyvernoMetricsConfigData is the chart's default metrics ConfigMap
// (charts/kyverno/values.yaml, metricsConfig:).
func kyvernoMetricsConfigData() map[string]string {
	ns := `"disabledLabelDimensions":["resource_namespace","resource_request_operation"]`
	exposure := `{` +
		`"kyverno_policy_execution_duration_seconds":{` + ns + `},` +
		`"kyverno_validating_policy_execution_duration_seconds":{` + ns + `},` +
		`"kyverno_image_validating_policy_execution_duration_seconds":{` + ns + `},` +
		`"kyverno_mutating_policy_execution_duration_seconds":{` + ns + `},` +
		`"kyverno_generating_policy_execution_duration_seconds":{` + ns + `},` +
		`"kyverno_admission_review_duration_seconds":{"disabledLabelDimensions":["resource_namespace"]},` +
		`"kyverno_policy_rule_info_total":{"disabledLabelDimensions":["resource_namespace","policy_namespace"]},` +
		`"kyverno_policy_results_total":{"disabledLabelDimensions":["resource_namespace","policy_namespace"]},` +
		`"kyverno_admission_requests_total":{"disabledLabelDimensions":["resource_namespace"]}}`
	return map[string]string{
		"namespaces":       `{"exclude":[],"include":[]}`,
		"metricsExposure":  exposure,
		"bucketBoundaries": "0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30",
	}
}

// startKyverno runs Kyverno's admission controller on free loopback ports,
// pinned to cpu when cpu >= 0, and waits until its readiness probe answers
// 200 (its certificate checked against the CA secret, informers synced).
func startKyverno(kb *kyvernoBuild, dir string, cpu int, kubeconfig string, issued harness.Issued) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: "kyverno", Base: fmt.Sprintf("https://127.0.0.1:%d", port), Log: filepath.Join(dir, "kyverno.log"), CA: issued.CAPEM}
	// The chart's flags (charts/kyverno/templates/admission-controller/deployment.yaml,
	// kyverno.features.flags with values.yaml's features) but: no webhook
	// configurations, no admission reports, no events (issue 26: Kyverno at
	// its best), no controller-runtime metrics server; out of cluster by
	// --serverIP. Logging as the chart: text, -v=2.
	argv := []string{
		"--kubeconfig=" + kubeconfig,
		"--serverIP=127.0.0.1",
		"--webhookServerHost=127.0.0.1",
		"--webhookServerPort=" + strconv.Itoa(port),
		"--servicePort=" + strconv.Itoa(port),
		"--caSecretName=" + kyvernoCASecret,
		"--tlsSecretName=" + kyvernoTLSSecret,
		"--autoUpdateWebhooks=false",
		"--admissionReports=false",
		"--omitEvents=PolicyApplied,PolicyViolation,PolicySkipped,PolicyError",
		"--generateValidatingAdmissionPolicy=false",
		"--enableConfigMapCaching=true",
		"--enableDeferredLoading=true",
		"--metricsHost=127.0.0.1",
		"--metricsPort=" + strconv.Itoa(metrics),
		"--controllerRuntimeMetricsAddress=0",
		"--loggingFormat=text",
		"--v=2",
	}
	env := []string{
		"KYVERNO_NAMESPACE=" + kyvernoNamespace,
		"KYVERNO_DEPLOYMENT=" + kyvernoDeployment,
		"KYVERNO_POD_NAME=" + kyvernoDeployment + "-bench",
		"KYVERNO_SERVICEACCOUNT_NAME=" + kyvernoServiceAccount,
		"KYVERNO_ROLE_NAME=kyverno:admission-controller",
		"KYVERNO_SVC=" + kyvernoService,
		"INIT_CONFIG=" + kyvernoConfigMap,
		"METRICS_CONFIG=" + kyvernoMetricsConfig,
	}
	if err := s.launch(cpu, kb.Bin, argv, env); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(issued.CAPEM)
	probe := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer probe.CloseIdleConnections()
	err = s.waitReady(3*time.Minute, func() bool {
		resp, err := probe.Get(s.Base + "/health/readiness")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// post sends one AdmissionReview and returns the answer's body.
func (c *Client) post(path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, buf.Bytes())
	}
	return buf.Bytes(), nil
}
