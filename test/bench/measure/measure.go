// Package measure runs a built platform-webhook for the cluster-scale
// benchmarks (test/bench/scale, test/bench/report) and reads what they
// report: how long it takes to get ready, its resident memory (now and at
// its peak, from /proc) and the heap the Go runtime has in use (from its
// Prometheus endpoint, controller-runtime's Go collector).
package measure

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a running binary with its log in a file.
type Process struct {
	cmd     *exec.Cmd
	started time.Time
	logFile string
	done    chan struct{}
}

// Start starts bin with args, its output to logFile. It dies with the
// benchmark (Pdeathsig).
func Start(logFile, bin string, args ...string) (*Process, error) {
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Process{cmd: cmd, logFile: logFile, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// Until polls ok every 20 ms until it holds, and returns the time since
// the process started; an error when the process exits first or timeout
// passes (with the end of its log).
func (p *Process) Until(what string, timeout time.Duration, ok func() bool) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return 0, fmt.Errorf("exited before %s; log:\n%s", what, p.logTail())
		default:
		}
		if ok() {
			return time.Since(p.started), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("not %s after %s; log:\n%s", what, timeout, p.logTail())
}

// HTTPOK says whether url answers 200.
func HTTPOK(url string) func() bool {
	return func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// Logged says whether the process's log has a line containing s.
func (p *Process) Logged(s string) func() bool {
	return func() bool {
		b, _ := os.ReadFile(p.logFile)
		return bytes.Contains(b, []byte(s))
	}
}

func (p *Process) logTail() string {
	b, _ := os.ReadFile(p.logFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Memory is the process's resident set now and at its peak (VmRSS, VmHWM),
// in bytes.
func (p *Process) Memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		field, value, _ := strings.Cut(s.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch field {
		case "VmRSS":
			rss = kb * 1024
		case "VmHWM":
			peak = kb * 1024
		}
	}
	return rss, peak, s.Err()
}

// HeapInUse is the lowest go_memstats_heap_inuse_bytes of samples reads of
// the metrics endpoint, every, apart: the heap the process keeps, with as
// little not-yet-collected garbage as the collector's rhythm allows (the
// binary offers no way to force a collection).
func HeapInUse(metricsURL string, samples int, every time.Duration) (int64, error) {
	var low int64 = -1
	for i := range samples {
		if i > 0 {
			time.Sleep(every)
		}
		resp, err := http.Get(metricsURL)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		for line := range strings.SplitSeq(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, err
				}
				if low < 0 || int64(f) < low {
					low = int64(f)
				}
			}
		}
	}
	if low < 0 {
		return 0, fmt.Errorf("%s: no go_memstats_heap_inuse_bytes", metricsURL)
	}
	return low, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s).
func (p *Process) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// FreeAddr is a free loopback address "127.0.0.1:port".
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// MiB formats bytes in MiB.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// BuildAt builds cmd/platform-webhook as it was at the git revision rev of
// the repository at root into out (the "before" of a before/after run):
// the tree is exported with git archive, so the work tree is untouched.
func BuildAt(root, rev, out string) error {
	dir, err := os.MkdirTemp("", "platform-webhook-at-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, rev, dir)
	if b, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %v\n%s", rev, err, b)
	}
	build := exec.Command("go", "build", "-o", out, "./cmd/platform-webhook")
	build.Dir = dir
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", rev, err, b)
	}
	return nil
}
