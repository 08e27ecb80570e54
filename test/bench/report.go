package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

// Machine is where the benchmark ran.
type Machine struct {
	CPUs                     int
	CPUModel, Kernel, Go, OS string
}

// Measured is one load step and what the processes used during it.
type Measured struct {
	Result
	MaxRSS    uint64        // the server's largest VmRSS during the step
	MaxAnon   uint64        // its largest RssAnon (VmRSS less mapped files: the executable)
	ServerCPU time.Duration // the server's CPU time during the step
	ClientCPU time.Duration // the load generator's
	OtherCPU  time.Duration // other processes' on the server's CPU: noise
}

// CPUPerRequest is the server's CPU time per answered request.
func (m Measured) CPUPerRequest() time.Duration {
	if m.Sent == 0 {
		return 0
	}
	return m.ServerCPU / time.Duration(m.Sent)
}

// KindRun is one request kind at saturation.
type KindRun struct {
	Case  string
	Hosts int // authorized gateway hosts (VirtualServices), else 0
	M     Measured
}

// ServerRun is what one server did through the load sequence.
type ServerRun struct {
	Server   *Server
	Client   *Client
	Baseline bool
	CPU      int    // the CPU the servers are pinned to, or -1
	Pinned   []int  // the processes pinned to it (both servers)
	IdleRSS  uint64 // after start-up
	// Peer is another product measured beside the two servers on some pod
	// paths (Kyverno, peer.go): reported, never a target.
	Peer    bool
	Version string // the peer's
	// SaturationRounds are the 9 KB pod at saturation (closed loop), in
	// turn with the other server; Saturation is the median round. Steps are
	// the open-loop rates, in order.
	SaturationRounds []Measured
	Saturation       Measured
	Steps            []Measured
	PeakRSS          uint64 // VmHWM after the load sequence
	Kinds            []KindRun
	Paths            []PathRun // the pod paths side by side (paths.go)
	RSS10k           uint64    // after the 10,000-host Gateways and their VirtualServices' runs
}

// Report is everything the benchmark measured.
type Report struct {
	Machine            Machine
	Started, Ended     time.Time
	LoadStart, LoadEnd string
	ServerCPU          int // the CPU the servers and Go benchmarks were pinned to, -1 for none
	Notes              []string
	GoBench            map[string]GoBench
	Runs               []*ServerRun // baseline, platform-webhook, then the peer if it ran
	Apiserver          *ApiserverResult
}

// Targets of issue 9.
const (
	targetHandler    = 250 * time.Microsecond
	targetSaturation = 0.70
	targetRate       = 1000.0
	targetP99        = 5 * time.Millisecond
	targetRSS        = 1.25
	targetHosts      = 2.0
)

func (r *Report) runs() (base, ours *ServerRun) {
	for _, run := range r.Runs {
		if run.Peer {
			continue
		}
		if run.Baseline {
			base = run
		} else {
			ours = run
		}
	}
	return base, ours
}

// Write prints the report as Markdown.
func (r *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	m := r.Machine
	p("# platform-webhook benchmark")
	p("")
	p("- Machine: %d CPUs, %s, Linux %s, %s, %s", m.CPUs, m.CPUModel, m.Kernel, m.OS, m.Go)
	p("- Run: %s to %s (%s)", r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339), r.Ended.Sub(r.Started).Round(time.Second))
	p("- Load average (1, 5, 15 min) at the start: %s; at the end: %s", r.LoadStart, r.LoadEnd)
	if r.ServerCPU >= 0 {
		p("- Servers and Go benchmarks pinned to CPU %d (taskset; GOMAXPROCS 1, -cpu 1); the load generator to the other CPU", r.ServerCPU)
	}
	if worst, where := r.worstNoise(); worst > 0.05 {
		r.Notes = append(r.Notes, fmt.Sprintf("other processes took up to %.0f%% of the servers' CPU (%s): those figures are noisy; rerun on an idle machine", 100*worst, where))
	} else if l, err := strconv.ParseFloat(strings.Fields(r.LoadStart + " x")[0], 64); err == nil && l > 1 {
		r.Notes = append(r.Notes, fmt.Sprintf("the load average was %.2f at the start (this run's own builds count in it)", l))
	}
	for _, n := range r.Notes {
		p("- **Note**: %s", n)
	}
	p("")
	r.writeTargets(p)
	r.writePaths(p)
	r.writePeer(p)
	r.writeLoad(p)
	r.writeKinds(p)
	r.writeApiserver(p)
	r.writeGoBench(p)
}

// worstNoise is the largest share of the servers' CPU other processes took
// during a load step, and which step.
func (r *Report) worstNoise() (float64, string) {
	worst, where := 0.0, ""
	check := func(m Measured, name string) {
		if m.Duration > 0 {
			if share := float64(m.OtherCPU) / float64(m.Duration); share > worst {
				worst, where = share, name
			}
		}
	}
	for _, run := range r.Runs {
		for i, m := range run.SaturationRounds {
			check(m, fmt.Sprintf("%s, saturation %d", run.Server.Name, i+1))
		}
		for _, m := range run.Steps {
			check(m, fmt.Sprintf("%s at %.0f req/s", run.Server.Name, m.Offered))
		}
		for _, k := range run.Kinds {
			check(k.M, fmt.Sprintf("%s, %s", run.Server.Name, k.Case))
		}
	}
	return worst, where
}

func (r *Report) writeTargets(p func(string, ...any)) {
	t := &table{header: []string{"figure", "measured", "target", "met"}}
	gb := func(name string) (GoBench, bool) { b, ok := r.GoBench[name]; return b, ok }
	if r.GoBench != nil {
		for _, kind := range []string{"rewrite", "registry"} {
			ours, ok1 := gb("Handler/pod-9k-" + kind)
			base, ok2 := gb("BaselineHandler/pod-9k-" + kind)
			if ok1 && ok2 {
				d := ns(ours.NsOp)
				t.add(fmt.Sprintf("whole handler, 9 KB pod, /image-%s request (Go benchmark, one core)", kind),
					fmt.Sprintf("%s (baseline, decode only: %s)", dur(d), dur(ns(base.NsOp))), "≤ "+dur(targetHandler), met(d <= targetHandler))
			}
		}
	}
	base, ours := r.runs()
	if base != nil && ours != nil {
		ratio := ours.Saturation.Achieved / base.Saturation.Achieved
		t.add("saturation throughput, 9 KB pod to /image-rewrite, vs baseline (median of 3 rounds)",
			fmt.Sprintf("%.0f / %.0f req/s = %.0f%%", ours.Saturation.Achieved, base.Saturation.Achieved, 100*ratio),
			fmt.Sprintf("≥ %.0f%%", 100*targetSaturation), met(ratio >= targetSaturation))
		// What the core can do without anything else on it: the inverse of
		// the server's CPU time per request. Other processes on the CPU
		// lower the throughput, not this.
		if o, b := medianCPU(ours.SaturationRounds), medianCPU(base.SaturationRounds); o > 0 && b > 0 {
			cpuRatio := float64(b) / float64(o)
			t.add("the same from server CPU time per request (baseline's / ours, medians)",
				fmt.Sprintf("%s / %s = %.0f%%", dur(b), dur(o), 100*cpuRatio), fmt.Sprintf("≥ %.0f%%", 100*targetSaturation), met(cpuRatio >= targetSaturation))
		}
		if o, b := stepAt(ours, targetRate), stepAt(base, targetRate); o != nil && b != nil {
			t.add("p99 at 1,000 req/s, one core (baseline's)", fmt.Sprintf("%s (%s)", dur(o.Percentile(99)), dur(b.Percentile(99))), "≤ "+dur(targetP99), met(o.Percentile(99) <= targetP99))
			t.add("errors at 1,000 req/s (baseline's)", fmt.Sprintf("%d of %d (%d)", o.ErrorCount(), o.Sent, b.ErrorCount()), "0", met(o.ErrorCount() == 0))
		}
		rss := float64(ours.PeakRSS) / float64(base.PeakRSS)
		t.add("peak RSS over the load sequence vs baseline", fmt.Sprintf("%s / %s = %.2fx", mib(ours.PeakRSS), mib(base.PeakRSS), rss), fmt.Sprintf("≤ %.2fx", targetRSS), met(rss <= targetRSS))
	}
	if r.GoBench != nil {
		for _, name := range []string{"GatewayHosts/allowed", "GatewayHosts/denied", "Handler/virtualservice-allowed", "Handler/virtualservice-denied"} {
			small, ok1 := gb(name + "/hosts=10")
			large, ok2 := gb(name + "/hosts=10000")
			if ok1 && ok2 {
				ratio := large.NsOp / small.NsOp
				t.add(fmt.Sprintf("gateway-hosts, 10,000 vs 10 hosts: %s (Go benchmark)", strings.TrimPrefix(name, "GatewayHosts/")),
					fmt.Sprintf("%s / %s = %.2fx", dur(ns(large.NsOp)), dur(ns(small.NsOp)), ratio), fmt.Sprintf("≤ %.0fx", targetHosts), met(ratio <= targetHosts))
			}
		}
	}
	if ours != nil {
		for _, c := range []string{"virtualservice-allowed", "virtualservice-denied"} {
			small, large := kindRun(ours, c, 10), kindRun(ours, c, 10000)
			if small != nil && large != nil && large.M.Achieved > 0 {
				ratio := small.M.Achieved / large.M.Achieved
				t.add(fmt.Sprintf("gateway-hosts, 10,000 vs 10 hosts: %s, served (time per request)", strings.TrimPrefix(c, "virtualservice-")),
					fmt.Sprintf("%.0f / %.0f req/s = %.2fx", small.M.Achieved, large.M.Achieved, ratio), fmt.Sprintf("≤ %.0fx", targetHosts), met(ratio <= targetHosts))
			}
		}
	}
	p("## Targets")
	p("")
	t.write(p)
}

func (r *Report) writeLoad(p func(string, ...any)) {
	base, ours := r.runs()
	if base == nil || ours == nil {
		return
	}
	p("## Load: the 9 KB pod to /image-rewrite over %d keep-alive HTTPS connections", poolSize)
	p("")
	p("Saturation is a closed loop (each connection sends its next request when the last is answered), measured %d times with the servers taking turns (the targets use the median round); the rates are an open loop, latency counted from each request's scheduled send time (a request that waits for a connection or the server is late by that much); an answer after %s is an error. Server CPU is per request sent; RSS is the largest seen during the step (sampled every 50 ms); \"others on its CPU\" is the time other processes took on the servers' CPU (noise: above a few percent, rerun).", saturationRounds, requestTimeout)
	p("")
	t := &table{header: []string{"rate (req/s)", "server", "achieved", "p50", "p99", "p99.9", "max", "errors", "server CPU", "CPU/request", "RSS", "client CPU", "others on its CPU"}}
	row := func(label string, run *ServerRun, m Measured) {
		t.add(label, run.Server.Name, fmt.Sprintf("%.0f", m.Achieved), dur(m.Percentile(50)), dur(m.Percentile(99)), dur(m.Percentile(99.9)), dur(m.Percentile(100)),
			errorText(m.Result), pct(m.ServerCPU, m.Duration), dur(m.CPUPerRequest()), mib(m.MaxRSS), pct(m.ClientCPU, m.Duration), pct(m.OtherCPU, m.Duration))
	}
	for i := range base.SaturationRounds {
		label := fmt.Sprintf("saturation %d", i+1)
		row(label, base, base.SaturationRounds[i])
		if i < len(ours.SaturationRounds) {
			row(label, ours, ours.SaturationRounds[i])
		}
	}
	for i := range base.Steps {
		rate := fmt.Sprintf("%.0f", base.Steps[i].Offered)
		row(rate, base, base.Steps[i])
		if i < len(ours.Steps) {
			row(rate, ours, ours.Steps[i])
		}
	}
	t.write(p)
	p("RSS: baseline %s idle, %s peak (VmHWM); platform-webhook %s idle, %s peak. With the 10,000-host Gateways loaded: baseline %s, platform-webhook %s.",
		mib(base.IdleRSS), mib(base.PeakRSS), mib(ours.IdleRSS), mib(ours.PeakRSS), mib(base.RSS10k), mib(ours.RSS10k))
	p("")
}

func (r *Report) writeKinds(p func(string, ...any)) {
	base, ours := r.runs()
	if base == nil || ours == nil || len(ours.Kinds) == 0 {
		return
	}
	p("## Every request kind at saturation (closed loop, %d connections)", poolSize)
	p("")
	p("Server CPU below about 90%% means something else held the server back (\"others\": other processes on its CPU; or the load generator): trust CPU/request over req/s there.")
	p("")
	t := &table{header: []string{"request", "endpoint", "platform-webhook req/s", "p50", "CPU/request", "server CPU", "others", "baseline req/s", "p50", "CPU/request", "server CPU", "others", "ratio", "errors"}}
	for _, k := range ours.Kinds {
		b := kindRun(base, k.Case, k.Hosts)
		if b == nil {
			continue
		}
		name := k.Case
		if k.Hosts > 0 {
			name += fmt.Sprintf(" (%d hosts)", k.Hosts)
		}
		path := ""
		for _, c := range corpus.Cases() {
			if c.Name == k.Case {
				path = c.Path
			}
		}
		t.add(name, path, fmt.Sprintf("%.0f", k.M.Achieved), dur(k.M.Percentile(50)), dur(k.M.CPUPerRequest()), pct(k.M.ServerCPU, k.M.Duration), pct(k.M.OtherCPU, k.M.Duration),
			fmt.Sprintf("%.0f", b.M.Achieved), dur(b.M.Percentile(50)), dur(b.M.CPUPerRequest()), pct(b.M.ServerCPU, b.M.Duration), pct(b.M.OtherCPU, b.M.Duration),
			fmt.Sprintf("%.0f%%", 100*k.M.Achieved/b.M.Achieved), fmt.Sprintf("%d / %d", k.M.ErrorCount(), b.M.ErrorCount()))
	}
	t.write(p)
}

func (r *Report) writeApiserver(p func(string, ...any)) {
	a := r.Apiserver
	if a == nil {
		return
	}
	p("## Through the apiserver: the 9 KB pod created %d times, one after the other", a.With.N)
	p("")
	t := &table{header: []string{"pod create", "p50", "p99", "mean", "max"}}
	t.add("without the webhook", dur(a.Without.P50), dur(a.Without.P99), dur(a.Without.Avg), dur(a.Without.Max))
	t.add("with platform-webhook (image-rewrite, image-registry)", dur(a.With.P50), dur(a.With.P99), dur(a.With.Avg), dur(a.With.Max))
	t.write(p)
	p("The apiserver's `%s` (operation CREATE; cumulative counts per bucket, in seconds):", admissionMetric)
	p("")
	h := &table{header: []string{"webhook", "type", "count", "mean"}}
	var les []string
	for _, hist := range a.Histograms {
		for _, b := range hist.Buckets {
			if !slices.Contains(les, b.LE) {
				les = append(les, b.LE)
			}
		}
	}
	slices.SortFunc(les, func(x, y string) int {
		fx, _ := strconv.ParseFloat(x, 64)
		fy, _ := strconv.ParseFloat(y, 64)
		return cmpFloat(fx, fy)
	})
	for _, le := range les {
		h.header = append(h.header, "≤ "+le)
	}
	for _, hist := range a.Histograms {
		mean := ""
		if hist.Count > 0 {
			mean = dur(time.Duration(hist.Sum / hist.Count * float64(time.Second)))
		}
		row := []string{hist.Name, hist.Type, fmt.Sprintf("%.0f", hist.Count), mean}
		for _, le := range les {
			v := ""
			for _, b := range hist.Buckets {
				if b.LE == le {
					v = fmt.Sprintf("%.0f", b.Count)
				}
			}
			row = append(row, v)
		}
		h.add(row...)
	}
	h.write(p)
}

func (r *Report) writeGoBench(p func(string, ...any)) {
	if len(r.GoBench) == 0 {
		return
	}
	p("## Go benchmarks (one core: -cpu 1, pinned)")
	p("")
	p("Handler is the whole handler per recorded request (HTTP body to response, enforce mode); BaselineHandler the baseline's decode-and-allow; the others are the policies alone.")
	p("")
	t := &table{header: []string{"benchmark", "time/op", "B/op", "allocs/op"}}
	names := make([]string, 0, len(r.GoBench))
	for n := range r.GoBench {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b := r.GoBench[n]
		t.add(n, dur(ns(b.NsOp)), fmt.Sprintf("%.0f", b.BOp), fmt.Sprintf("%.0f", b.AllocsOp))
	}
	t.write(p)
}

// medianCPU is the median server CPU time per request of the rounds.
func medianCPU(rounds []Measured) time.Duration {
	var d []time.Duration
	for _, m := range rounds {
		d = append(d, m.CPUPerRequest())
	}
	slices.Sort(d)
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}

func stepAt(run *ServerRun, rate float64) *Measured {
	for i := range run.Steps {
		if run.Steps[i].Offered == rate {
			return &run.Steps[i]
		}
	}
	return nil
}

func kindRun(run *ServerRun, name string, hosts int) *KindRun {
	for i := range run.Kinds {
		if run.Kinds[i].Case == name && run.Kinds[i].Hosts == hosts {
			return &run.Kinds[i]
		}
	}
	return nil
}

func errorText(r Result) string {
	if len(r.Errors) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range r.Errors {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func ns(f float64) time.Duration { return time.Duration(f) }

// dur prints a duration in ns, µs, ms or s, with about three significant figures.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3g s", d.Seconds())
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func pct(part, whole time.Duration) string {
	if whole <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// table prints a Markdown table with aligned columns.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(p func(string, ...any)) {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		b.WriteString("|")
		for i, w := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			b.WriteString(" " + c + strings.Repeat(" ", w-utf8.RuneCountInString(c)) + " |")
		}
		return b.String()
	}
	p("%s", line(t.header))
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	p("%s", line(sep))
	for _, row := range t.rows {
		p("%s", line(row))
	}
	p("")
}
