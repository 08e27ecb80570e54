package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a webhook process under test, pinned to one CPU.
type Server struct {
	Name   string // "platform-webhook" or "baseline"
	cmd    *exec.Cmd
	exited chan error
	Base   string // https://127.0.0.1:port
	CA     []byte // its self-signed certificate
	Log    string // its log file
}

// StartServer runs binary (args first, e.g. "serve") on free loopback ports
// with a fresh cert folder under dir, pinned to cpu with taskset when cpu >=
// 0, and waits until /readyz answers 200 (certificate served, informer
// caches synced).
func StartServer(name, dir string, cpu int, binary string, args ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	health, err := freePort()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, name+"-certs")
	s := &Server{Name: name, Base: fmt.Sprintf("https://127.0.0.1:%d", port), Log: filepath.Join(dir, name+".log")}
	argv := append(args,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--cert-dir", certDir,
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", health),
		"--metrics-addr", "0",
	)
	if err := s.launch(cpu, binary, argv, nil); err != nil {
		return nil, err
	}
	err = s.waitReady(90*time.Second, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	s.CA, err = os.ReadFile(filepath.Join(certDir, "tls.crt"))
	return s, err
}

// launch starts binary with argv (and env added to this process's), pinned
// to cpu with taskset when cpu >= 0, its output to s.Log, killed with this
// process.
func (s *Server) launch(cpu int, binary string, argv, env []string) error {
	if cpu >= 0 {
		argv = append([]string{"-c", strconv.Itoa(cpu), binary}, argv...)
		binary = "taskset" // execs the binary: same process, pinned
	}
	logf, err := os.Create(s.Log)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(binary, argv...)
	if env != nil {
		s.cmd.Env = append(os.Environ(), env...)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait(); logf.Close() }()
	return nil
}

// waitReady polls ready until it says yes; the server is stopped and the
// end of its log returned in the error when it exits first or timeout
// passes.
func (s *Server) waitReady(timeout time.Duration, ready func() bool) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		select {
		case err := <-s.exited:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", s.Name, err, tail(s.Log, 40))
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("%s not ready after %s:\n%s", s.Name, timeout, tail(s.Log, 40))
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Pid is the server's process id (taskset execs the binary in place).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Pause stops the process (SIGSTOP) until Resume: it then takes no CPU at
// all, its connections and state kept.
func (s *Server) Pause() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT; nothing if it runs).
func (s *Server) Resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

// Stop sends SIGTERM and waits for the process to end.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused process would not see SIGTERM
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Memory is a process's resident set size now and at its peak (VmRSS and
// VmHWM of /proc/<pid>/status), in bytes.
func Memory(pid int) (rss, peak uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for key, into := range map[string]*uint64{"VmRSS:": &rss, "VmHWM:": &peak} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("%s %q: %w", key, rest, err)
				}
				*into = kb * 1024
			}
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS or VmHWM in /proc/<pid>/status")
	}
	return rss, peak, sc.Err()
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// CPUTime is the CPU time a process used so far (user and system), from
// /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuBusy is the time CPU cpu spent on anything but idling (/proc/stat);
// 0 when cpu < 0 or unknown.
func cpuBusy(cpu int) time.Duration {
	if cpu < 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already in user.
		var busy uint64
		for i, f := range strings.Fields(rest) {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil || i >= 8 {
				break
			}
			if i != 3 && i != 4 {
				busy += n
			}
		}
		return time.Duration(busy) * time.Second / clockTicks
	}
	return 0
}

// anonRSS is a process's anonymous resident memory (RssAnon of
// /proc/<pid>/status: heap, stacks), in bytes: its RSS less the pages of
// its executable and other files it maps.
func anonRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no RssAnon in /proc/<pid>/status")
}

// sampler records the largest VmRSS and RssAnon of a process while it runs.
type sampler struct {
	stop    chan struct{}
	done    sync.WaitGroup
	max     uint64
	maxAnon uint64
}

func sampleRSS(pid int, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{})}
	s.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rss, _, err := Memory(pid); err == nil {
				s.max = max(s.max, rss)
			}
			if anon, err := anonRSS(pid); err == nil {
				s.maxAnon = max(s.maxAnon, anon)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Stop ends the sampling and returns the largest VmRSS and RssAnon seen.
func (s *sampler) Stop() (rss, anon uint64) {
	close(s.stop)
	s.done.Wait()
	return s.max, s.maxAnon
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
