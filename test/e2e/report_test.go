package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// runReport runs the built `platform-webhook report` against the cluster
// with the tests' config.
func runReport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(cluster.Binary, append([]string{"report", "--kubeconfig", cluster.Kubeconfig,
		"--config", filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml")}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, o.String(), e.String()
}

// waitNamespaceGone waits until a namespace an earlier test deleted is gone,
// so it can be made again.
func waitNamespaceGone(t *testing.T, ns string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := cluster.Kubectl("", "get", "namespace", ns, "--ignore-not-found", "-o", "jsonpath={.status.phase}")
		if out != "Terminating" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("namespace %s still terminating", ns)
}

// TestReport: objects admitted in an audit namespace (a Deployment's
// unmirrored pods, a bare pod, a tenant HelmRelease running as
// helm-controller, a VirtualService on another tenant's host) are what
// report prints, grouped by workload, with exit 1; -n narrows it, --mode
// enforce says enforce, a clean namespace is exit 0, and an unreachable
// server is exit 2 in one line.
func TestReport(t *testing.T) {
	const ns, clean = "e2e-report", "e2e-report-clean"
	waitNamespaceGone(t, "istio-ingress")
	namespace(t, "istio-ingress", nil)
	namespace(t, ns, map[string]string{"flux-infra.io/admission-mode": "audit"})
	namespace(t, clean, nil)
	waitForAuditLabel(t, ns)
	kubectl(t, gatewayManifest("istio-ingress", "report", `"e2e-report-clean/shop.example.com"`), "apply", "-f", "-")
	kubectl(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: `+ns+`
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: nginx:1.27
`, "apply", "-f", "-")
	kubectl(t, podManifest(ns, "debug", "busybox:1.36"), "apply", "-f", "-")
	kubectl(t, helmRelease(ns, "redis", "", "", "  serviceAccountName: helm-controller\n"), "apply", "-f", "-")
	// Admitted in the clean (enforce) namespace once the webhook has the Gateway.
	waitForWebhookGateways(t, virtualServiceManifest("v1", clean, "probe", []string{"istio-ingress/report"}, "shop.example.com"),
		"Gateway istio-ingress/report", func(err error, _ string) bool { return err == nil })
	kubectl(t, virtualServiceManifest("v1", ns, "shop", []string{"istio-ingress/report"}, "shop.example.com"), "apply", "-f", "-")
	pods := controllerPods(t, ns, "app=api", 2)
	rs := owner(pods[0])[len("ReplicaSet/"):]

	const m = mirror
	code, stdout, stderr := runReport(t, "-n", ns, "-n", clean)
	want := `POLICY          OBJECT                                  MODE   RESULT  MESSAGE
flux-placement  HelmRelease/redis                       audit  deny    spec.serviceAccountName: must be a service account of namespace "e2e-report", not a Flux controller's (found "helm-controller")
image-registry  Pod/debug                               audit  deny    spec.containers[0].image: container "debug" uses "busybox:1.36" which is not in the mirror (allowed: images under "` + m + `/")
image-rewrite   Pod/debug                               audit  mutate  would rewrite "busybox:1.36" to "` + m + `/docker-hub/library/busybox:1.36"
image-registry  ReplicaSet/` + rs + ` of Deployment/api (2 pods)  audit  deny    spec.containers[0].image: container "api" uses "nginx:1.27" which is not in the mirror (allowed: images under "` + m + `/")
image-rewrite   ReplicaSet/` + rs + ` of Deployment/api (2 pods)  audit  mutate  would rewrite "nginx:1.27" to "` + m + `/docker-hub/library/nginx:1.27"
gateway-hosts   VirtualService/shop                     audit  deny    spec.hosts[0]: host "shop.example.com" is not authorized for namespace "e2e-report" on gateway "istio-ingress/report" (allowed for e2e-report: none)
e2e-report (audit): under enforce 4 objects would be denied (image-registry 2, flux-placement 1, gateway-hosts 1), 3 pods would get their images rewritten at their next restart

e2e-report-clean (enforce): nothing would be denied or changed
`
	if code != 1 || stderr != "" || stdout != alignLike(stdout, want) {
		t.Errorf("exit %d\nstderr: %s\nstdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}

	code, stdout, _ = runReport(t, "-n", ns, "--mode", "enforce", "-o", "json")
	var findings []map[string]any
	if err := json.Unmarshal([]byte(stdout), &findings); err != nil || code != 1 {
		t.Fatalf("-o json: exit %d, %v\n%s", code, err, stdout)
	}
	wantFirst := map[string]any{"policy": "flux-placement", "kind": "HelmRelease", "namespace": ns, "name": "redis", "owner": "", "pods": float64(0),
		"mode": "enforce", "result": "deny", "message": `spec.serviceAccountName: must be a service account of namespace "e2e-report", not a Flux controller's (found "helm-controller")`}
	if len(findings) != 6 || !reflect.DeepEqual(findings[0], wantFirst) || findings[3]["owner"] != "Deployment/api" || findings[3]["pods"] != float64(2) {
		t.Errorf("-o json: %d findings, first %v, fourth %v", len(findings), findings[0], findings[3])
	}

	if code, stdout, stderr := runReport(t, "-n", clean); code != 0 || stdout != "e2e-report-clean (enforce): nothing would be denied or changed\n" || stderr != "" {
		t.Errorf("clean namespace: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	down := filepath.Join(t.TempDir(), "down")
	writeKubeconfig(t, down, "https://127.0.0.1:1")
	cmd := exec.Command(cluster.Binary, "report", "--kubeconfig", down)
	var e bytes.Buffer
	cmd.Stderr = &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 ||
		e.String() != "report: cannot read the cluster at https://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused\n" {
		t.Errorf("unreachable: %v, stderr %q", err, e.String())
	}
}

// alignLike returns want when got differs from it only in the spaces
// tabwriter pads columns with, else want itself (so the comparison fails
// and shows both). The columns' content is compared exactly.
func alignLike(got, want string) string {
	norm := func(s string) string {
		var b bytes.Buffer
		space := false
		for _, r := range s {
			if r == ' ' {
				space = true
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	if norm(got) == norm(want) {
		return got
	}
	return want
}

func writeKubeconfig(t *testing.T, path, server string) {
	t.Helper()
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" + server + "\", insecure-skip-tls-verify: true}\n" +
		"contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: x}\n"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reporterUser is a user with exactly the rights of manifests/webhook/
// reporter.yaml: its ClusterRole, and its leader-election Role in leaseNS.
// It returns the user's kubeconfig.
func reporterUser(t *testing.T, leaseNS string) string {
	t.Helper()
	ctx := context.Background()
	const name = "e2e-reporter"
	user, err := cluster.Env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(harness.RepoRoot(), "manifests", "webhook", "reporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	subject := []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}}
	var objs []client.Object
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var doc struct {
			Kind  string              `json:"kind"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "ClusterRole":
			objs = append(objs,
				&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: doc.Rules},
				&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}})
		case "Role":
			objs = append(objs,
				&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: leaseNS}, Rules: doc.Rules},
				&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: leaseNS}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}})
		}
	}
	if len(objs) != 4 {
		t.Fatalf("reporter.yaml: found %d RBAC objects, want a ClusterRole and a Role", len(objs)/2)
	}
	for _, o := range objs {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cluster.Client.Delete(ctx, o) })
	}
	return path
}

// startReporter runs `platform-webhook reporter` against the cluster with
// kubeconfig, logging to a file of its own; it is stopped when the test ends.
func startReporter(t *testing.T, name, kubeconfig, leaseNS string) (logFile string) {
	t.Helper()
	logFile = filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cluster.Binary, "reporter", "--kubeconfig", kubeconfig,
		"--config", filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml"),
		"--namespace", leaseNS, "--debounce", "500ms", "--health-addr", "0", "--metrics-addr", "0")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		f.Close()
	})
	return logFile
}

type reportView struct {
	Summary struct{ Pass, Fail, Warn int } `json:"summary"`
	Results []struct {
		Policy    string `json:"policy"`
		Result    string `json:"result"`
		Message   string `json:"message"`
		Resources []struct {
			Kind, Name string
		} `json:"resources"`
	} `json:"results"`
}

// waitForReport waits until ns's Report, as kubectl shows it, satisfies ok.
func waitForReport(t *testing.T, ns string, ok func(reportView) bool) reportView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var r reportView
	var last string
	for time.Now().Before(deadline) {
		out, _, err := cluster.Kubectl("", "get", "reports.openreports.io", "-n", ns, "platform-webhook", "-o", "json")
		last = out
		if err == nil {
			r = reportView{}
			if json.Unmarshal([]byte(out), &r) == nil && ok(r) {
				return r
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Report %s/platform-webhook never as expected; last:\n%s", ns, last)
	return r
}

// TestReporter: two reporters against the real apiserver: the elected one
// writes the Report of an audit namespace with its pod's findings; a change
// in another namespace leaves this one's Report as it was; deleting the pod
// clears its findings; the other replica never writes.
func TestReporter(t *testing.T) {
	const ns, other, lease = "e2e-reporter", "e2e-reporter-other", "e2e-reporter-lease"
	namespace(t, ns, map[string]string{"flux-infra.io/admission-mode": "audit"})
	namespace(t, other, map[string]string{"flux-infra.io/admission-mode": "audit"})
	namespace(t, lease, nil)
	waitForAuditLabel(t, ns)
	waitForAuditLabel(t, other)
	kubectl(t, podManifest(ns, "legacy", "busybox:1.36"), "apply", "-f", "-")
	// Both run with the shipped RBAC alone.
	kc := reporterUser(t, lease)
	logs := []string{startReporter(t, "a", kc, lease), startReporter(t, "b", kc, lease)}

	r := waitForReport(t, ns, func(r reportView) bool { return len(r.Results) == 2 })
	if r.Summary.Fail != 1 || r.Summary.Warn != 1 || r.Results[0].Policy != "image-registry" || r.Results[0].Result != "fail" ||
		r.Results[1].Policy != "image-rewrite" || r.Results[1].Result != "warn" ||
		r.Results[0].Resources[0].Kind != "Pod" || r.Results[0].Resources[0].Name != "legacy" ||
		r.Results[0].Message != `spec.containers[0].image: container "legacy" uses "busybox:1.36" which is not in the mirror (allowed: images under "`+mirror+`/")` {
		t.Errorf("report %+v", r)
	}

	// A change elsewhere runs the reporter again; this namespace's Report,
	// unchanged, is not rewritten (the same resourceVersion).
	rv, _ := kubectl(t, "", "get", "reports.openreports.io", "-n", ns, "platform-webhook", "-o", "jsonpath={.metadata.resourceVersion}")
	kubectl(t, podManifest(other, "elsewhere", "busybox:1.36"), "apply", "-f", "-")
	waitForReport(t, other, func(r reportView) bool { return len(r.Results) == 2 })
	time.Sleep(2 * time.Second) // a full run's worth
	if again, _ := kubectl(t, "", "get", "reports.openreports.io", "-n", ns, "platform-webhook", "-o", "jsonpath={.metadata.resourceVersion}"); again != rv {
		t.Errorf("the unchanged Report was rewritten: resourceVersion %s, then %s", rv, again)
	}

	kubectl(t, "", "delete", "pod", "-n", ns, "legacy", "--wait=false", "--grace-period=0", "--force")
	waitForReport(t, ns, func(r reportView) bool { return len(r.Results) == 0 && r.Summary.Fail == 0 && r.Summary.Warn == 0 })

	wrote := 0
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if bytes.Contains(b, []byte(`"msg":"reported"`)) {
			wrote++
		}
	}
	if wrote != 1 {
		t.Errorf("%d reporters ran, want the leader alone", wrote)
	}
}
