package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedCRDs: the OpenReports CRDs under manifests/webhook/openreports
// are the files of the github.com/openreports/reports-api module go.mod
// requires, byte for byte (the reporter's Go types come from there too).
func TestShippedCRDs(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("the module is not in the module cache: go mod download github.com/openreports/reports-api")
	}
	for _, name := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		want, err := os.ReadFile(filepath.Join(dir, "config", "crd", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(manifestsDir(), "webhook", "openreports", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("manifests/webhook/openreports/%s differs from the module's config/crd/%s: copy it again", name, name)
		}
	}
}
