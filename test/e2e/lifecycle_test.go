package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// The webhook's lifecycle under load: certificate rotation, graceful
// shutdown, informer caches (not ready before they sync, correct after the
// apiserver connection drops and returns), and the apiserver's timeout on a
// webhook that does not answer.

// reviewOf is an AdmissionReview of a pod with an image to rewrite, for
// /image-rewrite; uid tells the answers apart.
func reviewOf(uid, namespace string) []byte {
	return fmt.Appendf(nil, `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
  "uid": %q, "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "web", "namespace": %q, "operation": "CREATE", "userInfo": {"username": "load"},
  "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": %q},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}`, uid, namespace, namespace)
}

// checkReview checks an answer to reviewOf: HTTP 200, the request's uid,
// allowed with a patch (enforce) or with warnings and no patch (audit).
// It returns "patched" or "audit".
func checkReview(status int, body []byte, uid string) (string, error) {
	if status != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", status, body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Response == nil {
		return "", fmt.Errorf("not an AdmissionReview (%v): %s", err, body)
	}
	r := review.Response
	switch {
	case string(r.UID) != uid:
		return "", fmt.Errorf("uid %q, want %q", r.UID, uid)
	case r.Allowed && len(r.Patch) > 0:
		return "patched", nil
	case r.Allowed && len(r.Warnings) > 0:
		return "audit", nil
	}
	return "", fmt.Errorf("allowed %v, result %+v, patch %s, warnings %q", r.Allowed, r.Result, r.Patch, r.Warnings)
}

// load is a small load generator: goroutines POSTing AdmissionReviews to
// a webhook in a loop until stopped. Each request is counted as ok, as cut
// (the connection failed before any answer came: refused, reset, closed),
// or as failed: a wrong answer (not HTTP 200, another uid, no decision) or
// an answer cut short.
type load struct {
	ok, cut  atomic.Int64
	mu       sync.Mutex
	failures []string
	cutAt    []time.Time
	serials  map[string]int // serial of the served certificate -> requests
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(clients []*http.Client, url, namespace string) *load {
	l := &load{stop: make(chan struct{}), serials: map[string]int{}}
	for g, cl := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(cl, url, namespace, fmt.Sprintf("10ad0000-0000-4000-8000-%06d%06d", g, i))
			}
		}()
	}
	return l
}

func (l *load) one(cl *http.Client, url, namespace, uid string) {
	resp, err := cl.Post(url, "application/json", bytes.NewReader(reviewOf(uid, namespace)))
	if err != nil {
		l.mu.Lock()
		l.cut.Add(1)
		l.cutAt = append(l.cutAt, time.Now())
		l.mu.Unlock()
		time.Sleep(time.Millisecond) // the listener is closed, say: do not spin
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		_, err = checkReview(resp.StatusCode, body, uid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failures = append(l.failures, fmt.Sprintf("%s: %v", uid, err))
		return
	}
	l.ok.Add(1)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		l.serials[resp.TLS.PeerCertificates[0].SerialNumber.String()]++
	}
}

// Stop stops the goroutines and waits for their requests to end.
func (l *load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

func httpsClient(pool *x509.CertPool, keepAlive bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, InsecureSkipVerify: pool == nil, NextProtos: []string{"http/1.1"}},
		DisableKeepAlives: !keepAlive,
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// newCA makes a CA and a serving certificate it signs for 127.0.0.1 and
// localhost, as cert-manager would issue them: PEM CA, certificate, key,
// and the certificate's serial.
func newCA(t *testing.T) (caPEM, certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	c, err := harness.IssueServingCert("e2e rotated CA", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return c.CAPEM, c.CertPEM, c.KeyPEM, c.Serial
}

// servedSerial is the serial of the certificate the webhook serves now.
func servedSerial(addr string, pool *x509.CertPool) (string, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// replaceFile writes data beside path and renames it over path: the file
// changes at once, as the kubelet's atomic swap of a Secret volume does.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestCertificateRotationUnderLoad: cert-manager renews the serving
// certificate with a new CA. The CA injector first puts both CAs in the
// webhook configurations' caBundle; then the mounted files change while
// AdmissionReviews keep coming (over kept-alive connections and new ones).
// The new certificate is served within seconds, no request fails, and the
// apiserver reaches the webhook once the caBundle holds the new CA only.
func TestCertificateRotationUnderLoad(t *testing.T) {
	ctx := context.Background()
	addr := strings.TrimPrefix(cluster.WebhookURL(""), "https://")
	certPath, keyPath := filepath.Join(cluster.CertDir(), "tls.crt"), filepath.Join(cluster.CertDir(), "tls.key")
	oldBundle, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, certPEM, keyPEM, serial := newCA(t)
	both := x509.NewCertPool()
	if !both.AppendCertsFromPEM(oldBundle) || !both.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad PEM")
	}
	if err := cluster.SetCABundle(ctx, append(append([]byte{}, oldBundle...), caPEM...)); err != nil {
		t.Fatal(err)
	}
	before, err := servedSerial(addr, both)
	if err != nil {
		t.Fatal(err)
	}

	l := startLoad([]*http.Client{httpsClient(both, true), httpsClient(both, true), httpsClient(both, false), httpsClient(both, false)},
		cluster.WebhookURL("/image-rewrite"), "e2e-rotation")
	time.Sleep(300 * time.Millisecond)
	// The key, then the certificate: between the two the pair does not
	// match and the old one keeps being served.
	replaceFile(t, keyPath, keyPEM)
	replaceFile(t, certPath, certPEM)
	rotated := time.Now()
	var took time.Duration
	for {
		s, err := servedSerial(addr, both)
		if err == nil && s == serial.String() {
			took = time.Since(rotated)
			break
		}
		// A deadline, not a performance figure: fsnotify makes it near
		// instant, the certwatcher's polling makes it at most ~10s.
		if time.Since(rotated) > 15*time.Second {
			l.Stop()
			t.Fatalf("still serving serial %s (err %v) 15s after the files changed; want %s", s, err, serial)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	l.Stop()
	t.Logf("new certificate served after %s; %d requests, by certificate serial: %v", took, l.ok.Load(), l.serials)
	if len(l.failures) > 0 || l.cut.Load() > 0 {
		t.Errorf("%d requests failed, %d cut, of %d: %q", len(l.failures), l.cut.Load(), l.ok.Load(), l.failures)
	}
	if l.serials[before] == 0 || l.serials[serial.String()] == 0 {
		t.Errorf("the load did not see both certificates (old %s, new %s): %v", before, serial, l.serials)
	}

	// The rotation done: the caBundle holds the new CA only, and the
	// apiserver calls the webhook with it.
	if err := cluster.SetCABundle(ctx, caPEM); err != nil {
		t.Fatal(err)
	}
	namespace(t, "e2e-rotation", nil)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, errOut, err := cluster.Kubectl(podManifest("e2e-rotation", "web", "nginx:1.27"), "apply", "--dry-run=server", "-f", "-")
		if err == nil && out == "pod/web created (server dry run)\n" && errOut == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver does not reach the webhook with the new CA: %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// slowRequest is an AdmissionReview whose body is sent in two halves: after
// the first the server has started on it (in flight), and it waits for the
// second.
type slowRequest struct {
	conn *tls.Conn
	uid  string
	rest []byte
}

func startSlowRequest(t *testing.T, addr, path, uid string) *slowRequest {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	body := reviewOf(uid, "e2e-shutdown")
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, addr, len(body))
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		t.Fatal(err)
	}
	return &slowRequest{conn: conn, uid: uid, rest: body[len(body)/2:]}
}

// finish sends the rest of the body and reads the answer.
func (s *slowRequest) finish() (*http.Response, []byte, error) {
	defer s.conn.Close()
	if _, err := s.conn.Write(s.rest); err != nil {
		return nil, nil, fmt.Errorf("send the rest of the body: %w", err)
	}
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestGracefulShutdownUnderLoad: SIGTERM while AdmissionReviews come in.
// The apiserver never retries a webhook call, so nothing may be lost: for
// the drain (--shutdown-drain) readiness fails within a second, and every
// request, on a kept-alive connection, on a new one, or half-written at
// SIGTERM, is answered with its right answer and Connection: close; then the
// process shuts down and exits 0 within the grace period. The load (kept-alive
// and new connections) sees no failure and no cut connection while the drain
// lasts.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	addr := strings.TrimPrefix(cluster.WebhookURL(""), "https://")
	var slow []*slowRequest
	defer func() {
		for _, s := range slow {
			s.conn.Close()
		}
		cluster.StopWebhook() // when the test failed before it exited
		if err := cluster.StartWebhook(cluster.ConfigPath()); err != nil {
			t.Fatalf("restart webhook: %v", err)
		}
	}()
	if code, body, err := harness.Readyz(cluster.HealthAddr()); err != nil || code != http.StatusOK {
		t.Fatalf("not ready before the test: %d %v\n%s", code, err, body)
	}

	// Requests half-written when SIGTERM comes.
	for i := range 3 {
		slow = append(slow, startSlowRequest(t, addr, "/image-rewrite", fmt.Sprintf("5100d000-0000-4000-8000-00000000000%d", i)))
	}
	// A kept-alive connection: one request answered, kept open.
	idle, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleReader := bufio.NewReader(idle)
	ask := func(uid string) (*http.Response, string, error) {
		body := reviewOf(uid, "e2e-shutdown")
		fmt.Fprintf(idle, "POST /image-rewrite HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
		idle.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(idleReader, nil)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp, "", err
		}
		got, err := checkReview(resp.StatusCode, answer, uid)
		return resp, got, err
	}
	if resp, got, err := ask("1d1e0000-0000-4000-8000-000000000001"); err != nil || got != "patched" || resp.Close {
		t.Fatalf("keep-alive request before SIGTERM: %s %v (close %v)", got, err, resp != nil && resp.Close)
	}

	// The load: kept-alive connections, as the apiserver's, and new ones.
	l := startLoad([]*http.Client{httpsClient(nil, true), httpsClient(nil, true), httpsClient(nil, false)},
		cluster.WebhookURL("/image-rewrite"), "e2e-shutdown")
	time.Sleep(300 * time.Millisecond)
	okBefore := l.ok.Load()
	if err := cluster.SignalWebhook(syscall.SIGTERM); err != nil {
		l.Stop()
		t.Fatal(err)
	}
	signalled := time.Now()

	// Readiness fails within a second.
	for {
		code, body, err := harness.Readyz(cluster.HealthAddr())
		if err == nil && code != http.StatusOK && strings.Contains(body, "[-]shutdown failed") {
			break
		}
		if time.Since(signalled) > time.Second {
			l.Stop()
			t.Fatalf("/readyz does not fail for the shutdown 1s after SIGTERM (%d, %v):\n%s", code, err, body)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// 1s after SIGTERM, the kept-alive connection is still served: answered,
	// with Connection: close.
	time.Sleep(time.Until(signalled.Add(time.Second)))
	if resp, got, err := ask("1d1e0000-0000-4000-8000-000000000002"); err != nil || got != "patched" || !resp.Close {
		t.Errorf("kept-alive request 1s after SIGTERM: %q %v (close %v); want patched, Connection: close", got, err, resp != nil && resp.Close)
	}
	// A new connection during the drain is answered too.
	cl := httpsClient(nil, true)
	resp, err := cl.Post(cluster.WebhookURL("/image-rewrite"), "application/json", bytes.NewReader(reviewOf("4e770000-0000-4000-8000-000000000001", "e2e-shutdown")))
	if err != nil {
		t.Errorf("new connection during the drain: %v", err)
	} else {
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, err := checkReview(resp.StatusCode, answer, "4e770000-0000-4000-8000-000000000001"); err != nil || got != "patched" || !resp.Close {
			t.Errorf("new connection during the drain: %q %v (close %v)", got, err, resp.Close)
		}
	}
	// The requests half-written at SIGTERM finish, with their answers.
	for _, s := range slow {
		resp, body, err := s.finish()
		if err != nil {
			t.Errorf("half-written request %s: %v", s.uid, err)
			continue
		}
		if got, err := checkReview(resp.StatusCode, body, s.uid); err != nil || got != "patched" {
			t.Errorf("half-written request %s: %s %v", s.uid, got, err)
		}
		if !resp.Close {
			t.Errorf("half-written request %s: answered without Connection: close", s.uid)
		}
	}
	// The load runs until shortly before the drain ends: nothing lost.
	time.Sleep(time.Until(signalled.Add(harness.ShutdownDrain - 500*time.Millisecond)))
	l.Stop()
	okDuring := l.ok.Load() - okBefore

	grace := harness.ShutdownDrain + 10*time.Second
	exitErr, exited := cluster.WaitWebhook(grace)
	if !exited {
		t.Fatalf("the webhook did not exit within %s of SIGTERM", grace)
	}
	if exitErr != nil {
		t.Errorf("the webhook exited with %v; want exit 0", exitErr)
	}
	if took := time.Since(signalled); took < harness.ShutdownDrain {
		t.Errorf("the webhook exited %s after SIGTERM, before its drain of %s ended", took, harness.ShutdownDrain)
	}
	t.Logf("load: %d answered before SIGTERM, %d during the drain, %d cut", okBefore, okDuring, l.cut.Load())
	if len(l.failures) > 0 || l.cut.Load() > 0 {
		t.Errorf("%d requests failed, %d cut during the drain: %q", len(l.failures), l.cut.Load(), l.failures)
	}
	if okBefore == 0 || okDuring == 0 {
		t.Errorf("the load did not run through the drain: %d answered before SIGTERM, %d during", okBefore, okDuring)
	}
	if log := cluster.Log(); strings.Contains(log, "error shutting down the HTTP server") {
		t.Errorf("shutdown error in the log:\n%s", log)
	}
}

// TestNotReadyBeforeCachesSync: a webhook whose informers cannot list (its
// user has no rights yet) serves TLS but never reports ready; given the
// ClusterRole of manifests/webhook/rbac.yaml, its informers sync and it
// becomes ready.
func TestNotReadyBeforeCachesSync(t *testing.T) {
	ctx := context.Background()
	user, err := cluster.Env.AddUser(envtest.User{Name: "e2e-no-rights"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(cluster.Dir, "kubeconfig-no-rights")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := cluster.StartExtraWebhook("no-rights", kcPath, cluster.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop(30 * time.Second)

	served := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body, err := harness.Readyz(w.HealthAddr)
		if err != nil {
			continue // not listening yet
		}
		if code == http.StatusOK {
			t.Fatalf("ready although its informers cannot list:\n%s", body)
		}
		served = served || strings.Contains(body, "[+]webhook ok") && strings.Contains(body, "[-]caches failed")
	}
	if !served {
		t.Fatalf("never saw the webhook served with the caches not synced; log:\n%s", w.Log())
	}

	// The shipped ClusterRole, bound to the user.
	role := shippedClusterRole(t)
	role.Name = "e2e-no-rights"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-no-rights"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "e2e-no-rights"}},
	}
	if err := cluster.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.Delete(ctx, role)
	if err := cluster.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.Delete(ctx, binding)
	if err := w.WaitReady(40 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// shippedClusterRole is the ClusterRole of manifests/webhook/rbac.yaml.
func shippedClusterRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	f, err := os.Open(filepath.Join(harness.RepoRoot(), "manifests", "webhook", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var role rbacv1.ClusterRole
		if err := dec.Decode(&role); err != nil {
			t.Fatalf("no ClusterRole in rbac.yaml: %v", err)
		}
		if role.Kind == "ClusterRole" {
			return &rbacv1.ClusterRole{Rules: role.Rules}
		}
	}
}

// TestAPIServerDropAndReturn: a webhook that reaches the apiserver through
// a proxy. Its answers follow a namespace's label; while the connection is
// cut it keeps answering (from its cache, as it was) and stays ready; once
// the connection returns, its informers catch up and the answers follow
// the label changed meanwhile.
func TestAPIServerDropAndReturn(t *testing.T) {
	proxy, err := harness.NewProxy(cluster.APIServerAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	kc, err := cluster.KubeconfigVia(proxy.Addr, "kubeconfig-proxy")
	if err != nil {
		t.Fatal(err)
	}
	namespace(t, "e2e-drop", nil)
	w, err := cluster.StartExtraWebhook("proxied", kc, cluster.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop(30 * time.Second)
	if err := w.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	cl := httpsClient(nil, true)
	n := 0
	decide := func() (string, error) {
		n++
		uid := fmt.Sprintf("d7000000-0000-4000-8000-%012d", n)
		resp, err := cl.Post(w.URL+"/image-rewrite", "application/json", bytes.NewReader(reviewOf(uid, "e2e-drop")))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		return checkReview(resp.StatusCode, body, uid)
	}
	waitFor := func(want string, within time.Duration) {
		t.Helper()
		var got string
		var err error
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got, err = decide(); err == nil && got == want {
				return
			}
		}
		t.Fatalf("answer %q (%v), want %q within %s; log:\n%s", got, err, want, within, w.Log())
	}
	label := func(mode string) {
		t.Helper()
		kubectl(t, "", "label", "namespace", "e2e-drop", "--overwrite", "flux-infra.io/admission-mode="+mode)
	}

	waitFor("patched", 5*time.Second)
	label("audit")
	waitFor("audit", 10*time.Second)

	proxy.Cut()
	if got, err := decide(); err != nil || got != "audit" {
		t.Errorf("with the apiserver cut off: %q %v; want the cached answer, audit", got, err)
	}
	label("enforce")
	time.Sleep(time.Second)
	if got, err := decide(); err != nil || got != "audit" {
		t.Errorf("with the apiserver cut off, after the label changed: %q %v; want the cached answer, audit", got, err)
	}
	if code, body, err := harness.Readyz(w.HealthAddr); err != nil || code != http.StatusOK {
		t.Errorf("not ready with the apiserver cut off (%d %v): an apiserver blip would take every replica out\n%s", code, err, body)
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor("patched", 30*time.Second)
}

// TestSlowWebhookTimeout: a webhook that never answers in time (a test-only
// one: ours answer from memory and never call the network while
// answering, so they cannot hang) costs what its timeoutSeconds says, then
// its failurePolicy applies: Ignore admits the pod, Fail refuses it.
func TestSlowWebhookTimeout(t *testing.T) {
	namespace(t, "e2e-slow", nil)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	defer srv.Close()
	defer close(release)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	hook := func(name string, policy admissionregistrationv1.FailurePolicyType) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name + ".test.flux-infra.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/slow"), CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "e2e-slow"}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-slow": name}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](2),
			FailurePolicy:           ptr.To(policy),
		}
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-test-slow"},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{hook("slow-ignore", admissionregistrationv1.Ignore), hook("slow-fail", admissionregistrationv1.Fail)},
	}
	ctx := context.Background()
	if err := cluster.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer cluster.Client.Delete(ctx, cfg)
	time.Sleep(2 * time.Second) // the apiserver picks up webhook configurations asynchronously

	pod := func(name string) string {
		return strings.Replace(podManifest("e2e-slow", name, mirror+"/docker-hub/library/nginx:1.27"),
			"  namespace: e2e-slow\n", "  namespace: e2e-slow\n  labels:\n    e2e-slow: "+name+"\n", 1)
	}
	took := func(start time.Time) time.Duration { return time.Since(start).Round(100 * time.Millisecond) }

	start := time.Now()
	out, errOut, err := cluster.Kubectl(pod("slow-ignore"), "apply", "-f", "-")
	d := took(start)
	if err != nil || out != "pod/slow-ignore created\n" || errOut != "" {
		t.Errorf("failurePolicy Ignore: err %v\nstdout: %q\nstderr: %q", err, out, errOut)
	}
	if d < 2*time.Second || d > 10*time.Second {
		t.Errorf("failurePolicy Ignore: kubectl took %s; want the 2s timeout and little more", d)
	}

	start = time.Now()
	_, errOut, err = cluster.Kubectl(pod("slow-fail"), "apply", "-f", "-")
	d = took(start)
	want := `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "slow-fail.test.flux-infra.io": failed to call webhook: Post "` +
		srv.URL + `/slow?timeout=2s": context deadline exceeded` + "\n"
	if err == nil || errOut != want {
		t.Errorf("failurePolicy Fail: err %v\nstderr: %s\nwant:   %s", err, errOut, want)
	}
	if d < 2*time.Second || d > 10*time.Second {
		t.Errorf("failurePolicy Fail: kubectl took %s; want the 2s timeout and little more", d)
	}
}
