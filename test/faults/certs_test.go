package faults

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// serviceDNSName is the name the apiserver verifies the webhook's certificate
// against for clientConfig.service (<name>.<namespace>.svc), as cert-manager's
// Certificate in manifests/webhook/certificates.yaml issues it.
const serviceDNSName = "platform-webhook.platform-webhook.svc"

// issued is a CA and a serving certificate it signed, for the Service name.
type issued struct {
	caPEM, certPEM, keyPEM []byte
	serial                 string
}

func issue(t *testing.T, name string) issued {
	t.Helper()
	c, err := harness.IssueServingCert(name+" CA", serviceDNSName, serviceDNSName+".cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	return issued{caPEM: c.CAPEM, certPEM: c.CertPEM, keyPEM: c.KeyPEM, serial: c.Serial.String()}
}

// writeSecretVolume writes tls.crt and tls.key into dir as the kubelet
// updates a Secret volume (its AtomicWriter): the files go into a new
// timestamped folder, a "..data_tmp" symlink to it is renamed over "..data",
// and tls.crt and tls.key are symlinks through "..data". One rename swaps
// both files at once; the old folder is removed after.
func writeSecretVolume(t *testing.T, dir string, cert issued) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprintf("..%s", time.Now().Format("2006_01_02_15_04_05.000000000"))
	if err := os.Mkdir(filepath.Join(dir, ts), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": cert.certPEM, "tls.key": cert.keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, ts, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(dir, old))
	}
}

// servedSerial is the serial of the certificate served at addr.
func servedSerial(addr string) (string, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}
