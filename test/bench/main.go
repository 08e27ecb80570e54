// Command bench (`make bench`) measures platform-webhook's admission latency,
// throughput and memory against a bare baseline and prints a report with
// each figure beside its target (issue 9, BENCHMARKS.md):
//
//  1. Go benchmarks on one core: each policy, and the whole handler per
//     recorded request of test/bench/corpus, ours and the baseline's.
//  2. A real control plane (test/e2e/harness: etcd and kube-apiserver with
//     the CRDs) for the servers' informer caches, with the corpus's
//     namespaces and Gateways of 10 authorized hosts.
//  3. The built binaries, each pinned to CPU 1 (taskset, so GOMAXPROCS is 1):
//     `platform-webhook serve` and test/bench/baseline (the same server and
//     TLS, every endpoint a decode-and-allow handler). The load generator,
//     pinned to CPU 0, sends the 9 KB pod to /image-rewrite over a pool of
//     keep-alive HTTPS connections: closed loop for saturation throughput,
//     then open loop at fixed rates up to the baseline's saturation. Then
//     every request kind at saturation, and the VirtualServices again with
//     10,000 authorized hosts.
//     Every pod request (3, 9 and 19 KB pods to image-rewrite and
//     image-registry, the Job pod to job-proxy) is measured on both servers
//     in turn, and its throughput, p99 and peak RSS ratios to the baseline's
//     are checked against issue 26's targets (paths.go): the command exits 1
//     when one is missed (-enforce=false: only reported). Kyverno, built by
//     test/tools/kyverno.sh, runs the image-rewrite paths too, pinned to the
//     same CPU, as a peer: reported, never a target (peer.go; -skip kyverno).
//  4. Pod creates through the apiserver, without and with platform-webhook
//     (the shipped webhook configurations), and the apiserver's
//     apiserver_admission_webhook_admission_duration_seconds.
//
// Run it through `make bench` (it sets KUBEBUILDER_ASSETS and
// PLATFORM_WEBHOOK_CRDS); the report also goes to bin/bench/report.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// options are the durations of the steps (flags).
type options struct {
	out       string
	benchtime string
	step      time.Duration // each open-loop rate
	sat       time.Duration // the saturation run of the 9 KB pod
	kind      time.Duration // the saturation run of each request kind
	pods      int           // pod creates through the apiserver, each way
	skip      string
	enforce   bool // exit 1 when a pod path misses a ratio target (paths.go)
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "also write the report to this file (default bin/bench/report.md)")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "-test.benchtime of the Go benchmarks")
	flag.DurationVar(&o.step, "step", 5*time.Second, "duration of each open-loop rate")
	flag.DurationVar(&o.sat, "sat", 4*time.Second, "duration of each saturation round")
	flag.DurationVar(&o.kind, "kind", 2*time.Second, "duration of the saturation run of each request kind")
	flag.IntVar(&o.pods, "pods", 200, "pod creates through the apiserver, without and with the webhook")
	flag.StringVar(&o.skip, "skip", "", "comma-separated parts to leave out: gobench, load, apiserver, kyverno (the peer on the image-rewrite pod paths)")
	flag.BoolVar(&o.enforce, "enforce", true, "exit 1 when a pod path misses a ratio target of issue 26 (-quick: false unless given)")
	quick := flag.Bool("quick", false, "a smoke run: short steps, few pods (the figures are not meaningful)")
	flag.Parse()
	if *quick {
		o.benchtime, o.step, o.sat, o.kind, o.pods = "100ms", time.Second, time.Second, 300*time.Millisecond, 20
		enforceGiven := false
		flag.Visit(func(f *flag.Flag) { enforceGiven = enforceGiven || f.Name == "enforce" })
		o.enforce = o.enforce && enforceGiven
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options, stdout io.Writer) error {
	// envtest logs through controller-runtime; its start-up lines are not
	// part of the report.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	root := harness.RepoRoot()
	work := filepath.Join(root, "bin", "bench")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(work, "report.md")
	}
	skip := o.skipped

	rep := &Report{Machine: machine(), Started: time.Now(), LoadStart: loadAverage()}
	serverCPU, clientCPU := 1, 0
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		serverCPU, clientCPU = -1, -1
		rep.Notes = append(rep.Notes, "taskset or a second CPU is missing: nothing is pinned, and server and load generator share the CPUs")
	}
	rep.ServerCPU = serverCPU
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	// Build everything first, on every CPU; measure afterwards.
	progress("building platform-webhook, the baseline and the benchmark test binaries")
	ours, base := filepath.Join(work, "platform-webhook"), filepath.Join(work, "baseline")
	for bin, pkg := range map[string]string{ours: "./cmd/platform-webhook", base: "./test/bench/baseline"} {
		// The release flags (Makefile, Dockerfile) but -trimpath, which only
		// changes file names in the binary and would compile every package a
		// second time (make bench sets CGO_ENABLED=0 for every build).
		cmd := exec.Command("go", "build", "-ldflags", "-s -w", "-o", bin, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	if !skip("gobench") {
		if err := buildGoBenches(root, work); err != nil {
			return err
		}
	}
	// Kyverno, the peer: its build (once, cached; about 12 minutes of CPU
	// the first time) failing leaves it out of the run, said in the report.
	var kb *kyvernoBuild
	if !skip("kyverno") && !skip("load") {
		progress("building Kyverno (test/tools/kyverno.sh; cached after the first time)")
		var err error
		if kb, err = buildKyverno(root); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Kyverno was not measured: it could not be built: %v", err))
		}
	}
	// From here on the load generator (this process) and the control plane
	// it starts stay off the servers' CPU.
	if clientCPU >= 0 {
		if err := pin(os.Getpid(), clientCPU); err != nil {
			return err
		}
		runtime.GOMAXPROCS(1)
	}
	var cluster *harness.Cluster
	if !skip("load") || !skip("apiserver") {
		progress("starting etcd and kube-apiserver")
		c, err := harness.Start()
		if err != nil {
			return err
		}
		defer c.Stop()
		cluster = c
		scheme, err := config.Scheme()
		if err != nil {
			return err
		}
		// The harness's client knows the built-in kinds; Gateways need Istio's.
		if c.Client, err = client.New(c.Env.Config, client.Options{Scheme: scheme}); err != nil {
			return err
		}
		if err := setUpCluster(context.Background(), c.Client, 10); err != nil {
			return err
		}
	}

	if !skip("gobench") {
		progress("Go benchmarks (about a minute)")
		benches, raw, err := runGoBenches(root, work, serverCPU, o.benchtime)
		if err != nil {
			return err
		}
		rep.GoBench = benches
		if err := os.WriteFile(filepath.Join(work, "gobench.txt"), []byte(raw), 0o644); err != nil {
			return err
		}
	}
	if !skip("load") {
		if err := loadPhase(o, rep, cluster, kb, work, ours, base, serverCPU, progress); err != nil {
			return err
		}
	}
	if !skip("apiserver") {
		progress("pod creates through the apiserver, without and with the webhook")
		res, err := throughApiserver(context.Background(), cluster, ours, serverCPU, o.pods)
		if err != nil {
			return err
		}
		rep.Apiserver = &res
	}
	rep.Ended, rep.LoadEnd = time.Now(), loadAverage()

	f, err := os.Create(o.out)
	if err != nil {
		return err
	}
	defer f.Close()
	rep.Write(io.MultiWriter(stdout, f))
	progress("report written to %s", o.out)
	if err := f.Close(); err != nil {
		return err
	}
	if missed := rep.Missed(); len(missed) > 0 {
		if !o.enforce {
			progress("%d ratio targets missed (not enforced)", len(missed))
			return nil
		}
		return fmt.Errorf("%d ratio targets missed:\n  %s", len(missed), strings.Join(missed, "\n  "))
	}
	return nil
}

// loadPhase runs both servers through the same load sequence.
func loadPhase(o options, rep *Report, cluster *harness.Cluster, kb *kyvernoBuild, work, ours, base string, cpu int, progress func(string, ...any)) error {
	config := filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml")
	progress("starting the baseline and platform-webhook (pinned to CPU %d)", cpu)
	baseSrv, err := StartServer("baseline", work, cpu, base, "--config", config, "--kubeconfig", cluster.Kubeconfig)
	if err != nil {
		return err
	}
	defer baseSrv.Stop()
	oursSrv, err := StartServer("platform-webhook", work, cpu, ours, "serve", "--config", config, "--kubeconfig", cluster.Kubeconfig)
	if err != nil {
		return err
	}
	defer oursSrv.Stop()
	time.Sleep(2 * time.Second) // let start-up garbage settle before the idle RSS
	runs := []*ServerRun{{Server: baseSrv, Baseline: true}, {Server: oursSrv}}
	for _, r := range runs {
		r.CPU, r.Pinned = cpu, []int{baseSrv.Pid(), oursSrv.Pid()}
		if r.IdleRSS, _, err = Memory(r.Server.Pid()); err != nil {
			return err
		}
		if r.Client, err = NewClient(r.Server.Base, r.Server.CA); err != nil {
			return err
		}
		defer r.Client.Close()
	}
	rep.Runs = runs

	pod9k := corpus.Get(mainCase)
	for _, r := range runs {
		t := target(pod9k, r.Baseline)
		if err := r.Client.Warm(t); err != nil {
			return fmt.Errorf("%s: %w", r.Server.Name, err)
		}
		r.Client.OpenLoop(t, 200, 2*time.Second) // warm-up, not reported
	}
	// Saturation in rounds, the servers taking turns, so that a slow spell
	// of the machine does not fall on one server only: the median round
	// counts.
	progress("9 KB pod to %s: saturation, %d rounds of each server in turn", pod9k.Path, saturationRounds)
	for range saturationRounds {
		for _, r := range runs {
			t := target(pod9k, r.Baseline)
			r.SaturationRounds = append(r.SaturationRounds, measure(r, func() Result { return r.Client.ClosedLoop(t, o.sat) }))
		}
	}
	for _, r := range runs {
		r.Saturation = medianRound(r.SaturationRounds)
	}
	rates := loadRates(runs[0].Saturation.Achieved) // the baseline's saturation sets the rates
	for _, r := range runs {
		progress("%s: 9 KB pod to %s: open-loop rates", r.Server.Name, pod9k.Path)
		t := target(pod9k, r.Baseline)
		for _, rate := range rates {
			time.Sleep(500 * time.Millisecond)
			step := o.step
			if rate == 1000 {
				step *= 2 // more samples where the p99 target is
			}
			r.Steps = append(r.Steps, measure(r, func() Result { return r.Client.OpenLoop(t, rate, step) }))
		}
		if _, r.PeakRSS, err = Memory(r.Server.Pid()); err != nil {
			return err
		}
	}

	// The peer runs for the pod paths only, so that it idles on the
	// servers' CPU during no other step.
	pathRuns := runs
	if kb != nil {
		progress("starting Kyverno %s (pinned to CPU %d) and checking its rewrite against ours", kb.Version, cpu)
		peer, err := startPeer(context.Background(), kb, cluster, work, cpu, runs[1])
		switch {
		case errors.Is(err, errPeerAnswer):
			return err
		case err != nil:
			progress("Kyverno not measured: %v", err)
			rep.Notes = append(rep.Notes, fmt.Sprintf("Kyverno was not measured: it could not be started: %s", firstLine(err)))
		default:
			defer peer.Server.Stop()
			defer peer.Client.Close()
			peer.Version = kb.Version
			pathRuns = append(slices.Clone(runs), peer)
			for _, r := range pathRuns {
				r.Pinned = []int{baseSrv.Pid(), oursSrv.Pid(), peer.Server.Pid()}
			}
			if peer.IdleRSS, _, err = Memory(peer.Server.Pid()); err != nil {
				return err
			}
			rep.Runs = append(rep.Runs, peer)
		}
	}
	measurePaths(o, pathRuns, progress)
	if len(pathRuns) > len(runs) {
		peer := pathRuns[len(runs)]
		_, peer.PeakRSS, _ = Memory(peer.Server.Pid())
		peer.Client.Close()
		peer.Server.Stop()
		for _, r := range runs {
			r.Pinned = []int{baseSrv.Pid(), oursSrv.Pid()}
		}
	}
	progress("every other request kind at saturation, 10 authorized gateway hosts")
	for _, c := range corpus.Cases() {
		if c.Kind == "Pod" {
			continue // measured as a pod path above
		}
		for _, r := range runs {
			r.Kinds = append(r.Kinds, KindRun{Case: c.Name, Hosts: hostsOf(c, 10), M: measure(r, func() Result { return r.Client.ClosedLoop(target(c, r.Baseline), o.kind) })})
		}
	}
	progress("10,000 authorized gateway hosts")
	if err := setGateways(context.Background(), cluster.Client, 10000); err != nil {
		return err
	}
	if err := waitForHosts(oursSrv, runs[1].Client, 60*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second) // the baseline's informers see the same events
	for _, c := range corpus.Cases() {
		if c.Kind != "VirtualService" {
			continue
		}
		for _, r := range runs {
			r.Kinds = append(r.Kinds, KindRun{Case: c.Name, Hosts: 10000, M: measure(r, func() Result { return r.Client.ClosedLoop(target(c, r.Baseline), o.kind) })})
		}
	}
	for _, r := range runs {
		if r.RSS10k, _, err = Memory(r.Server.Pid()); err != nil {
			return err
		}
	}
	return nil
}

// skipped says whether -skip names part.
func (o options) skipped(part string) bool { return slices.Contains(strings.Split(o.skip, ","), part) }

// firstLine is an error's first line (a process's log follows it).
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// saturationRounds is how many times each server's saturation is measured.
const saturationRounds = 3

// medianRound is the round of median throughput.
func medianRound(rounds []Measured) Measured {
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b Measured) int { return cmpFloat(a.Achieved, b.Achieved) })
	return sorted[len(sorted)/2]
}

// mainCase is the request of the load sequence: a 9 KB chart pod, to the
// mutating endpoint every pod goes through.
const mainCase = "pod-9k-rewrite"

// loadRates are the open-loop rates: 250, 500 and 1,000 requests/s, and
// 50%, 75%, 90% and 100% of the baseline's saturation throughput.
func loadRates(baselineSaturation float64) []float64 {
	rates := []float64{250, 500, 1000}
	for _, f := range []float64{0.5, 0.75, 0.9, 1} {
		r := float64(int(baselineSaturation*f/10+0.5) * 10)
		if r <= 0 {
			continue
		}
		if !slices.ContainsFunc(rates, func(x float64) bool { return x > r*0.95 && x < r*1.05 }) {
			rates = append(rates, r)
		}
	}
	slices.Sort(rates)
	return rates
}

func hostsOf(c corpus.Case, hosts int) int {
	if c.Kind == "VirtualService" {
		return hosts
	}
	return 0
}

// target is what a case sends and what its answer must hold: the baseline
// allows everything and never patches.
func target(c corpus.Case, baseline bool) Target {
	t := Target{Path: c.Path, Body: c.Review, Want: [][]byte{[]byte(`"uid":"` + string(c.Request().UID) + `"`)}}
	allowed, patched := c.Allowed, c.Patched
	if baseline {
		allowed, patched = true, false
	}
	t.Want = append(t.Want, []byte(`"allowed":`+strconv.FormatBool(allowed)))
	if patched {
		t.Want = append(t.Want, []byte(`"patch":`))
	} else {
		t.Reject = append(t.Reject, []byte(`"patch":`))
	}
	return t
}

// waitForHosts waits until the server's Gateway index holds the 10,000
// hosts: the denied VirtualService's message counts tenant-a's hosts.
func waitForHosts(s *Server, c *Client, timeout time.Duration) error {
	t := target(corpus.Get("virtualservice-denied"), false)
	t.Want = append(t.Want, []byte(`and 2496 more`))
	deadline := time.Now().Add(timeout)
	for c.do(t, time.Now().Add(5*time.Second)) != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not see the 10,000 gateway hosts in %s", s.Name, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// measure runs one load step with the server's CPU time, its largest RSS
// and the load generator's own CPU time around it.
// The other processes' share of the servers' CPU is the CPU's busy time
// less the servers' own.
func measure(r *ServerRun, step func() Result) Measured {
	pid := r.Server.Pid()
	cpu0, _ := CPUTime(pid)
	self0 := selfCPU()
	pinned0, busy0 := pinnedCPU(r.Pinned), cpuBusy(r.CPU)
	s := sampleRSS(pid, 50*time.Millisecond)
	res := step()
	m := Measured{Result: res}
	m.MaxRSS, m.MaxAnon = s.Stop()
	cpu1, _ := CPUTime(pid)
	m.ServerCPU = cpu1 - cpu0
	m.ClientCPU = selfCPU() - self0
	if r.CPU >= 0 {
		m.OtherCPU = max(0, (cpuBusy(r.CPU)-busy0)-(pinnedCPU(r.Pinned)-pinned0))
	}
	return m
}

// pinnedCPU is the CPU time the processes used so far, together.
func pinnedCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		d, _ := CPUTime(pid)
		sum += d
	}
	return sum
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pin binds every thread of process pid to cpu (threads it starts later
// inherit it).
func pin(pid, cpu int) error {
	if out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// childRunning returns the pid of this process's child that runs binary.
func childRunning(binary string) (int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err != nil || exe != binary {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no child process runs %s", binary)
}

// machine describes where the benchmark runs.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load average (/proc/loadavg).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
