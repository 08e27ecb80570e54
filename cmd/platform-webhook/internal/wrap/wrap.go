// Package wrap is `platform-webhook wrap`: it runs a Job's command inside a
// pod with an istio-proxy sidecar so that the Job completes. It waits until
// the proxy is ready (the command's first calls would fail before), runs the
// command, forwards signals to it, and stops the proxy when the command
// exits (otherwise the proxy keeps the pod running forever). The job-proxy
// policy puts it in front of the command of every Job container in the mesh.
//
// It runs as the container's PID 1, in any image (distroless included), so it
// is a static binary with no other dependency; the job-proxy init container
// copies it into the pod with Install.
package wrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Istio's defaults.
const (
	// DefaultStatusPort serves the proxy's readiness, /healthz/ready.
	DefaultStatusPort = 15021
	// DefaultAdminPort is pilot-agent's port; POST /quitquitquit stops the
	// proxy.
	DefaultAdminPort = 15020
	// DefaultTimeout is how long to wait for the proxy to be ready.
	DefaultTimeout = 5 * time.Minute
)

// Exit codes of the wrapper itself; otherwise it exits with the command's.
const (
	// ExitNotReady: the proxy was not ready before the deadline; the command
	// did not run.
	ExitNotReady = 1
	// ExitCannotRun: the command could not be started (shells use 126).
	ExitCannotRun = 126
	// ExitNotFound: the command does not exist (shells use 127).
	ExitNotFound = 127
)

// pollInterval is how often readiness is polled; a proxy is usually ready in
// one to three seconds.
const pollInterval = 250 * time.Millisecond

// Options configure one run.
type Options struct {
	// Host is where the proxy listens ("localhost": the pod's network).
	Host       string
	StatusPort int
	AdminPort  int
	// Timeout is how long to wait for the proxy to be ready.
	Timeout time.Duration
	// RestartPolicy is the container's effective restart policy: Never,
	// OnFailure or Always. The proxy is not stopped when the kubelet will
	// restart the container (OnFailure after a failure, Always), since the
	// next run needs it.
	RestartPolicy string
	// Stderr receives the wrapper's own lines (the command's output goes
	// straight to the process's standard streams).
	Stderr io.Writer
}

func (o Options) readyURL() string {
	return fmt.Sprintf("http://%s:%d/healthz/ready", o.Host, o.StatusPort)
}

func (o Options) quitURL() string {
	return fmt.Sprintf("http://%s:%d/quitquitquit", o.Host, o.AdminPort)
}

// keepsProxy says whether the proxy must stay up after the command exited
// with code.
func (o Options) keepsProxy(code int) bool {
	switch o.RestartPolicy {
	case "Always":
		return true
	case "OnFailure":
		return code != 0
	}
	return false
}

// Run waits for the proxy, runs argv, stops the proxy, and returns the exit
// code: the command's, 128+N when a signal N killed it, or one of the Exit
// codes above. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are
// forwarded to the command; a SIGTERM or SIGINT before it started ends the
// wait with 128+N.
func Run(opts Options, argv []string) int {
	logf := func(format string, a ...any) {
		fmt.Fprintf(opts.Stderr, "[job-proxy] "+format+"\n", a...)
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	ready := make(chan string, 1)
	go func() { ready <- waitReady(ctx, opts.readyURL()) }()
wait:
	for {
		select {
		case last := <-ready:
			if last == "" {
				break wait
			}
			logf("istio-proxy was not ready after %s (GET %s: %s); %q was not started", opts.Timeout, opts.readyURL(), last, argv[0])
			return finish(opts, ExitNotReady, logf)
		case sig := <-signals:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				return 128 + int(sig.(syscall.Signal))
			}
		}
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	if errors.Is(cmd.Err, exec.ErrDot) {
		cmd.Err = nil // "./run" via PATH=.: run it, as the container runtime would
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		code := ExitCannotRun
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = ExitNotFound
		}
		logf("cannot run %q: %s", argv[0], describe(err))
		return finish(opts, code, logf)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	code := 0
	if err != nil {
		code = ExitCannotRun
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
	return finish(opts, code, logf)
}

// finish stops the proxy unless the container will be restarted, and returns
// code.
func finish(opts Options, code int, logf func(string, ...any)) int {
	if opts.keepsProxy(code) {
		return code
	}
	if last := quit(opts.quitURL()); last != "" {
		logf("could not stop istio-proxy (POST %s: %s); the pod may keep running", opts.quitURL(), last)
	}
	return code
}

// waitReady polls url until it answers 200 or ctx ends; it returns "" when
// ready, else what the last attempt got.
func waitReady(ctx context.Context, url string) string {
	client := localClient()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ""
			}
			last = "status " + resp.Status
		} else if ctx.Err() == nil {
			last = describe(err)
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

// localClient talks to the pod's own proxy: never through an HTTP_PROXY of
// the environment, no connection kept.
func localClient() *http.Client {
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
}

// quitRetries are the pauses before the retries of POST /quitquitquit: a
// short retry for a hiccup, not a wait for a proxy that is gone.
var quitRetries = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond}

// quit POSTs url until it answers 2xx, a few times; it returns "" on
// success, else what the last attempt got.
func quit(url string) string {
	client := localClient()
	last := ""
	for i := 0; ; i++ {
		resp, err := client.Post(url, "", nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return ""
			}
			last = "status " + resp.Status
		} else {
			last = describe(err)
		}
		if i == len(quitRetries) {
			return last
		}
		time.Sleep(quitRetries[i])
	}
}

// describe is an error without Go's operation prefixes: "connection
// refused", "no such file or directory".
func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, exec.ErrNotFound):
		return "not found in PATH"
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// Install copies the running executable to target (mode 0755), replacing
// what is there, through a temporary file in the same folder so a reader
// never sees half a binary. The job-proxy init container runs it.
func Install(target string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(target), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
