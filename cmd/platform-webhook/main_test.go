package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runSelf runs this test binary as platform-webhook (TestMain) with args
// and the environment env (on top of a clean one: no cluster, no kubeconfig).
func runSelf(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(self(t), args...)
	cmd.Env = append([]string{testMainEnv + "=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
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

// TestUnknownCommand: a word that is not a command is exit 2 with the
// commands listed, never a server started.
func TestUnknownCommand(t *testing.T) {
	code, stdout, stderr := runSelf(t, nil, "reveiw", "manifests/")
	if want := "platform-webhook: unknown command \"reveiw\" (commands: serve, review, report, reporter, wrap, pull-through-rules, help)\n\n" + usage; code != 2 || stdout != "" || stderr != want {
		t.Errorf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	if code, stdout, _ := runSelf(t, nil, "help"); code != 0 || stdout != usage {
		t.Errorf("help: exit %d, stdout %q", code, stdout)
	}
}

// TestServeWithoutCluster: serve with no cluster to reach says so in one
// line, with what to set, and no log line or stack trace before it.
func TestServeWithoutCluster(t *testing.T) {
	code, stdout, stderr := runSelf(t, nil, "serve", "--health-addr", "0", "--metrics-addr", "0", "--cert-dir", t.TempDir())
	want := "platform-webhook: kubernetes client config: no cluster to connect to: not in a cluster (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig (set --kubeconfig or $KUBECONFIG, or write ~/.kube/config)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	if strings.Contains(stderr, "stacktrace") || strings.Contains(stderr, ".go:") {
		t.Error("a stack trace")
	}
}
