package e2e

import (
	"crypto/tls"
	"strings"
	"testing"
)

// The webhook speaks TLS 1.2 or later and HTTP/1.1 only: HTTP/2 stays off
// (rapid reset, CVE-2023-44487); the apiserver uses HTTP/1.1 for webhooks.
func TestTLSVersionsAndNoHTTP2(t *testing.T) {
	addr := strings.TrimPrefix(cluster.WebhookURL(""), "https://")
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.2+ handshake: %v", err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("negotiated protocol %q, want http/1.1", p)
	}
}

// Pods carry secrets in env: the webhook never logs object bodies, whatever
// it decides about the pod.
func TestLogsHoldNoObjectBodies(t *testing.T) {
	const secret = "s3cr3t-e2e-value-7f1c"
	namespace(t, "e2e-logs", nil)
	namespace(t, "e2e-logs-audit", map[string]string{"flux-infra.io/admission-mode": "audit"})
	waitForAuditLabel(t, "e2e-logs-audit")
	for _, c := range []struct{ ns, name, image string }{
		{"e2e-logs", "rewritten", "nginx:1.27"},
		{"e2e-logs", "denied", "Nginx:1.27"},
		{"e2e-logs-audit", "audited", "nginx:1.27"},
	} {
		manifest := podManifest(c.ns, c.name, c.image) + "      env:\n        - name: DB_PASSWORD\n          value: " + secret + "\n"
		cluster.Kubectl(manifest, "apply", "-f", "-")
	}
	log := cluster.Log()
	if !strings.Contains(log, `"policy":"image-registry"`) {
		t.Fatalf("the webhook log has no decision lines, so this test checks nothing:\n%s", log)
	}
	if strings.Contains(log, secret) {
		t.Errorf("the webhook log contains a pod's env value:\n%s", log)
	}
}
