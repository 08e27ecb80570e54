package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run `platform-webhook wrap` as a real process: this test binary,
// re-executed with testMainEnv set, is platform-webhook (TestMain calls run);
// with "test-child" as its first argument it is the wrapped command instead.
const testMainEnv = "PLATFORM_WEBHOOK_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "test-child" {
			os.Exit(testChild(os.Args[2:]))
		}
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testChild is the wrapped command: `test-child ADMIN-PORT ACTION [ARG]`. It
// first tells the fake proxy it started (GET /event/start on the admin
// port), then: "exit N" exits N; "kill-self" dies of SIGKILL; "print TEXT"
// prints TEXT and exits 0; "wait-term" waits for SIGTERM, prints "child got
// SIGTERM" and exits 42; "sleep" sleeps without handling any signal.
func testChild(args []string) int {
	var term chan os.Signal
	if args[1] == "wait-term" {
		term = make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM) // before reporting the start
	}
	resp, err := http.Get("http://127.0.0.1:" + args[0] + "/event/start")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 99
	}
	resp.Body.Close()
	switch args[1] {
	case "exit":
		n, _ := strconv.Atoi(args[2])
		return n
	case "kill-self":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(10 * time.Second)
	case "print":
		fmt.Println(args[2])
		return 0
	case "wait-term":
		<-term
		fmt.Println("child got SIGTERM")
		return 42
	case "sleep":
		time.Sleep(30 * time.Second)
		return 0
	}
	return 98
}

// fakeProxy is istio-proxy on loopback: the status server answers
// /healthz/ready with 503 for the first notReady polls, then 200; the admin
// server takes POST /quitquitquit (answering quitStatus in turn, then 200)
// and the child's /event/start. Every request is an event, in order.
type fakeProxy struct {
	mu         sync.Mutex
	events     []string
	notReady   int // polls answered 503 before 200; -1: never ready
	quitStatus []int
	status     *httptest.Server
	admin      *httptest.Server
}

func newFakeProxy(t *testing.T, notReady int, quitStatus ...int) *fakeProxy {
	t.Helper()
	p := &fakeProxy{notReady: notReady, quitStatus: quitStatus}
	p.status = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/healthz/ready" {
			p.events = append(p.events, "unexpected "+r.Method+" "+r.URL.Path+" on the status port")
			http.NotFound(w, r)
			return
		}
		if p.notReady != 0 {
			if p.notReady > 0 {
				p.notReady--
			}
			p.events = append(p.events, "ready? 503")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		p.events = append(p.events, "ready? 200")
	}))
	p.admin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/event/start":
			p.events = append(p.events, "child started")
		case r.Method == http.MethodPost && r.URL.Path == "/quitquitquit":
			code := http.StatusOK
			if len(p.quitStatus) > 0 {
				code, p.quitStatus = p.quitStatus[0], p.quitStatus[1:]
			}
			p.events = append(p.events, fmt.Sprintf("quitquitquit %d", code))
			w.WriteHeader(code)
		default:
			p.events = append(p.events, "unexpected "+r.Method+" "+r.URL.Path+" on the admin port")
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.status.Close)
	t.Cleanup(p.admin.Close)
	return p
}

func port(s *httptest.Server) string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

func (p *fakeProxy) Events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// flags are the wrapper's port flags pointing at the fake proxy.
func (p *fakeProxy) flags() []string {
	return []string{"--status-port=" + port(p.status), "--admin-port=" + port(p.admin)}
}

// self is this test binary.
func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// wrapProcess is `platform-webhook wrap FLAGS... -- test-child ADMIN-PORT CHILD...`, started.
type wrapProcess struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startWrap(t *testing.T, p *fakeProxy, flags []string, child ...string) *wrapProcess {
	t.Helper()
	args := append([]string{"wrap"}, flags...)
	args = append(args, "--", self(t), "test-child", port(p.admin))
	args = append(args, child...)
	w := &wrapProcess{cmd: exec.Command(self(t), args...)}
	w.cmd.Env = append(os.Environ(), testMainEnv+"=1")
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill() })
	return w
}

// wait returns the wrapper's exit code.
func (w *wrapProcess) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		w.cmd.Process.Kill()
		t.Fatalf("wrap did not exit; stderr: %s", w.stderr.String())
	}
	return w.cmd.ProcessState.ExitCode()
}

func runWrap(t *testing.T, p *fakeProxy, flags []string, child ...string) (code int, stdout, stderr string) {
	t.Helper()
	w := startWrap(t, p, append(p.flags(), flags...), child...)
	code = w.wait(t)
	return code, w.stdout.String(), w.stderr.String()
}

// TestWrapOrder: readiness is polled until 200, only then the command runs,
// its output passes through, and quitquitquit is POSTed exactly once after
// it exited.
func TestWrapOrder(t *testing.T) {
	t.Parallel()
	p := newFakeProxy(t, 3)
	code, stdout, stderr := runWrap(t, p, nil, "print", "hello from the job")
	if code != 0 || stdout != "hello from the job\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, the child's line, nothing", code, stdout, stderr)
	}
	want := []string{"ready? 503", "ready? 503", "ready? 503", "ready? 200", "child started", "quitquitquit 200"}
	if got := p.Events(); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

// TestWrapExitCodes: the command's exit code comes through, 128+N for a
// command killed by signal N, and the proxy is stopped once in every case.
func TestWrapExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		child []string
		want  int
	}{
		{"exit 0", []string{"exit", "0"}, 0},
		{"exit 1", []string{"exit", "1"}, 1},
		{"exit 137", []string{"exit", "137"}, 137},
		{"killed by SIGKILL", []string{"kill-self"}, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newFakeProxy(t, 0)
			code, _, stderr := runWrap(t, p, nil, tc.child...)
			if code != tc.want || stderr != "" {
				t.Errorf("exit %d, stderr %q; want %d and nothing", code, stderr, tc.want)
			}
			want := []string{"ready? 200", "child started", "quitquitquit 200"}
			if got := p.Events(); !slices.Equal(got, want) {
				t.Errorf("events\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestWrapSignals: SIGTERM to the wrapper (what the kubelet sends PID 1) goes
// to the command; the wrapper exits with what the command does about it.
func TestWrapSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		child  string
		want   int
		stdout string
	}{
		{"handled by the command", "wait-term", 42, "child got SIGTERM\n"},
		{"kills the command", "sleep", 143, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newFakeProxy(t, 0)
			w := startWrap(t, p, p.flags(), tc.child)
			deadline := time.Now().Add(10 * time.Second)
			for !slices.Contains(p.Events(), "child started") {
				if time.Now().After(deadline) {
					t.Fatalf("the child never started; stderr: %s", w.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := w.wait(t); code != tc.want || w.stdout.String() != tc.stdout || w.stderr.String() != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, nothing", code, w.stdout.String(), w.stderr.String(), tc.want, tc.stdout)
			}
			want := []string{"ready? 200", "child started", "quitquitquit 200"}
			if got := p.Events(); !slices.Equal(got, want) {
				t.Errorf("events\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestWrapDeadline: a proxy that never gets ready: the command never runs,
// one line says why, the wrapper exits 1 and stops the proxy (restart policy
// Never: a proxy left running would keep the pod up forever).
func TestWrapDeadline(t *testing.T) {
	t.Parallel()
	t.Run("not ready", func(t *testing.T) {
		t.Parallel()
		p := newFakeProxy(t, -1)
		start := time.Now()
		code, stdout, stderr := runWrap(t, p, []string{"--timeout=1s"}, "exit", "0")
		// Only the lower bound is checked: the wrapper must wait out the
		// timeout; how much longer a loaded machine takes is not its doing.
		if elapsed := time.Since(start); elapsed < time.Second {
			t.Errorf("gave up after %s, before the 1s timeout", elapsed)
		}
		want := `[job-proxy] istio-proxy was not ready after 1s (GET http://localhost:` + port(p.status) +
			`/healthz/ready: status 503 Service Unavailable); "` + self(t) + `" was not started` + "\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("exit %d, stdout %q, stderr\n%s\nwant exit 1 and\n%s", code, stdout, stderr, want)
		}
		// A poll cancelled at the deadline may reach the fake proxy after
		// the quit: count the events rather than order them.
		events := p.Events()
		quits := 0
		for _, e := range events {
			if e == "quitquitquit 200" {
				quits++
			}
		}
		if quits != 1 || slices.Contains(events, "child started") || slices.Contains(events, "ready? 200") {
			t.Errorf("events %q: want 503s and one quitquitquit, no child", events)
		}
	})
	t.Run("no proxy at all", func(t *testing.T) {
		t.Parallel()
		p := newFakeProxy(t, 0)
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close() // a port nothing listens on
		code, _, stderr := runWrap(t, p, []string{"--timeout=1s", "--status-port=" + port(closed)}, "exit", "0")
		want := `[job-proxy] istio-proxy was not ready after 1s (GET http://localhost:` + port(closed) +
			`/healthz/ready: connection refused); "` + self(t) + `" was not started` + "\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr\n%s\nwant exit 1 and\n%s", code, stderr, want)
		}
		if got, want := p.Events(), []string{"quitquitquit 200"}; !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
	})
}

// TestWrapRestartPolicy: the proxy is kept when the kubelet will restart
// the container (OnFailure after a failure, Always), so the next run has
// its mesh.
func TestWrapRestartPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy, exit string
		quit         bool
	}{
		{"Never", "1", true},
		{"OnFailure", "1", false},
		{"OnFailure", "0", true},
		{"Always", "0", false},
	} {
		t.Run(tc.policy+" exit "+tc.exit, func(t *testing.T) {
			t.Parallel()
			p := newFakeProxy(t, 0)
			code, _, stderr := runWrap(t, p, []string{"--restart-policy=" + tc.policy}, "exit", tc.exit)
			if strconv.Itoa(code) != tc.exit || stderr != "" {
				t.Errorf("exit %d, stderr %q; want %s and nothing", code, stderr, tc.exit)
			}
			want := []string{"ready? 200", "child started"}
			if tc.quit {
				want = append(want, "quitquitquit 200")
			}
			if got := p.Events(); !slices.Equal(got, want) {
				t.Errorf("events\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestWrapQuitRetry: a failed quitquitquit is retried briefly; if it never
// works, one line says so and the command's exit code still comes through.
func TestWrapQuitRetry(t *testing.T) {
	t.Parallel()
	t.Run("second attempt works", func(t *testing.T) {
		t.Parallel()
		p := newFakeProxy(t, 0, http.StatusServiceUnavailable)
		code, _, stderr := runWrap(t, p, nil, "exit", "3")
		if code != 3 || stderr != "" {
			t.Errorf("exit %d, stderr %q; want 3 and nothing", code, stderr)
		}
		want := []string{"ready? 200", "child started", "quitquitquit 503", "quitquitquit 200"}
		if got := p.Events(); !slices.Equal(got, want) {
			t.Errorf("events\n got %q\nwant %q", got, want)
		}
	})
	t.Run("never works", func(t *testing.T) {
		t.Parallel()
		p := newFakeProxy(t, 0, 500, 500, 500, 500, 500, 500)
		code, _, stderr := runWrap(t, p, nil, "exit", "0")
		want := `[job-proxy] could not stop istio-proxy (POST http://localhost:` + port(p.admin) +
			`/quitquitquit: status 500 Internal Server Error); the pod may keep running` + "\n"
		if code != 0 || stderr != want {
			t.Errorf("exit %d, stderr\n%s\nwant 0 and\n%s", code, stderr, want)
		}
		if got := p.Events(); len(got) != 6 || got[5] != "quitquitquit 500" {
			t.Errorf("events %q, want 4 attempts after the child", got)
		}
	})
}

// TestWrapCommandNotFound: exit 127 as a shell would, one line, proxy stopped.
func TestWrapCommandNotFound(t *testing.T) {
	t.Parallel()
	p := newFakeProxy(t, 0)
	cmd := exec.Command(self(t), append(append([]string{"wrap"}, p.flags()...), "--", "no-such-command-here", "x")...)
	cmd.Env = append(os.Environ(), testMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	want := `[job-proxy] cannot run "no-such-command-here": not found in PATH` + "\n"
	if code := cmd.ProcessState.ExitCode(); code != 127 || stderr.String() != want {
		t.Errorf("exit %d, stderr %q; want 127 and %q", code, stderr.String(), want)
	}
	if got, want := p.Events(), []string{"ready? 200", "quitquitquit 200"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestWrapUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{nil, "[job-proxy] wrap: no command given (platform-webhook wrap [flags] -- COMMAND [ARGS...])\n"},
		{[]string{"--"}, "[job-proxy] wrap: no command given (platform-webhook wrap [flags] -- COMMAND [ARGS...])\n"},
		{[]string{"--restart-policy=never", "--", "true"}, "[job-proxy] wrap: --restart-policy must be Never, OnFailure or Always (found \"never\")\n"},
		{[]string{"--timeout=0s", "--", "true"}, "[job-proxy] wrap: --timeout must be positive (found 0s)\n"},
		{[]string{"--status-port=0", "--", "true"}, "[job-proxy] wrap: --status-port must be a port, 1 to 65535 (found 0)\n"},
		{[]string{"--bogus", "--", "true"}, "[job-proxy] wrap: unknown flag: --bogus\n"},
		{[]string{"--install", "/tmp/x", "--", "true"}, "[job-proxy] wrap: --install takes no command\n"},
	} {
		var stderr bytes.Buffer
		if code := wrapCmd(tc.args, &stderr); code != 2 || stderr.String() != tc.stderr {
			t.Errorf("wrap %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.stderr)
		}
	}
}

// TestWrapInstall: `wrap --install FILE` copies the running binary, as the
// job-proxy init container runs it, and replaces an older copy.
func TestWrapInstall(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "platform-webhook")
	if err := os.WriteFile(target, []byte("an older copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self(t), "wrap", "--install", target)
	cmd.Env = append(os.Environ(), testMainEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("wrap --install: %v, output %q", err, out)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the copy differs from the binary (%d bytes, want %d)", len(got), len(want))
	}
	info, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", info.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the binary", len(entries))
	}

	var stderr bytes.Buffer
	missing := filepath.Join(dir, "no-such-folder", "platform-webhook")
	if code := wrapCmd([]string{"--install", missing}, &stderr); code != 1 || !strings.HasPrefix(stderr.String(), "[job-proxy] wrap: install "+missing+": ") {
		t.Errorf("install into a missing folder: exit %d, stderr %q", code, stderr.String())
	}
}
