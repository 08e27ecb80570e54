package harness

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child process of the harness (the webhook,
// kube-controller-manager, Istio's injector) writing to a log file. It dies
// with the test process, even when a test panics (Pdeathsig).
type process struct {
	name    string
	logFile string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has ended
	err     error         // how it ended, once done is closed
}

// startProcess starts bin with args, appending its output to logFile.
func startProcess(name, logFile, bin string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// waitUntil polls ready every interval until it returns true, the process
// exits, or timeout passes; the error carries the process's log.
func (p *process) waitUntil(what string, timeout, interval time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s (%v); log:\n%s", p.name, what, p.err, p.log())
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(interval)
	}
	return fmt.Errorf("%s: not %s after %s; log:\n%s", p.name, what, timeout, p.log())
}

// stop sends SIGTERM (as the kubelet does) and kills after grace. A nil or
// ended process is a no-op.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits up to timeout for the process to end: how it ended, and
// whether it did.
func (p *process) wait(timeout time.Duration) (err error, ended bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

func (p *process) log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}
