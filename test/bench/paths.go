package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

// Pod paths side by side (issue 26): every pod request of the corpus (the
// 3, 9 and 19 KB pods to image-rewrite and image-registry, the Job pod to
// job-proxy), each measured on both servers in turn: saturation in rounds
// (the median counts), then the same open-loop rate in rounds (the median
// p99 counts), then the largest RSS seen. The ratios are ours against the baseline's, in the same run.

// Targets of issue 26, per pod path.
const (
	targetPathThroughput = 0.90 // ours/baseline at saturation, at least
	targetPathP99        = 1.25 // ours/baseline p99 at the rate, at most
	targetPathRSS        = 1.25 // ours/baseline peak RSS, at most
	// pathRate is the open-loop rate of the p99 target. Where the
	// baseline's saturation is not well above it (the 19 KB pods), both
	// servers would only queue and the p99 would measure the queue's growth
	// over the step: the rate is then pathRateShare of the baseline's.
	pathRate      = 1000.0
	pathRateShare = 0.75
)

// PathRun is one pod path on one server.
type PathRun struct {
	Case       string
	Rounds     []Measured // saturation, in turn with the other server
	Saturation Measured   // the median round
	RateRounds []Measured // open loop at the path's rate, in turn with the other server
	AtRate     Measured   // the round of median p99
	PeakRSS    uint64     // the largest RSS seen during the path's steps
	PeakAnon   uint64     // the largest RssAnon
	// A peer's open loop at 75% of its own saturation (the rate above may
	// be more than it can serve), in rounds; AtOwnRate the median p99's.
	OwnRateRounds []Measured
	AtOwnRate     Measured
}

// podPaths are the corpus's pod requests, in report order.
func podPaths() []corpus.Case {
	var out []corpus.Case
	for _, c := range corpus.Cases() {
		if c.Kind == "Pod" {
			out = append(out, c)
		}
	}
	return out
}

// rateFor is the p99 rate for a path whose baseline saturates at sat.
func rateFor(sat float64) float64 {
	if sat*pathRateShare >= pathRate {
		return pathRate
	}
	return float64(int(sat*pathRateShare/10+0.5) * 10)
}

// measurePaths runs every pod path on both servers (runs[0] the baseline),
// and the image-rewrite paths on the peer too when there is one (after
// them: the rate is the baseline's).
func measurePaths(o options, runs []*ServerRun, progress func(string, ...any)) {
	for _, c := range podPaths() {
		var active []*ServerRun
		for _, r := range runs {
			if !r.Peer || peerCase(c) {
				active = append(active, r)
			}
		}
		progress("%s to %s: saturation, %d rounds of each server in turn (%d servers), then the p99 rate", c.Name, c.Path, saturationRounds, len(active))
		paths := make([]PathRun, len(active))
		for i, r := range active {
			paths[i].Case = c.Name
			turn(runs, r)
			r.Client.Warm(r.targetOf(c)) // an error shows in the steps
		}
		for range saturationRounds {
			for i, r := range active {
				turn(runs, r)
				t := r.targetOf(c)
				paths[i].Rounds = append(paths[i].Rounds, measure(r, func() Result { return r.Client.ClosedLoop(t, o.kind) }))
				r.settle()
			}
		}
		for i := range active {
			paths[i].Saturation = medianRound(paths[i].Rounds)
		}
		// The open loop in rounds too: a p99 is what one disturbed step
		// (another process on the servers' CPU) moves the most.
		rate := rateFor(paths[0].Saturation.Achieved)
		for range saturationRounds {
			for i, r := range active {
				time.Sleep(300 * time.Millisecond) // let the queue of the last step drain
				turn(runs, r)
				t := r.targetOf(c)
				paths[i].RateRounds = append(paths[i].RateRounds, measure(r, func() Result { return r.Client.OpenLoop(t, rate, o.step*3/5) }))
				r.settle()
			}
		}
		for i, r := range active {
			paths[i].AtRate = medianP99(paths[i].RateRounds)
			if r.Peer {
				// A peer slower than the rate only queues there (answers
				// after 5 s are errors): its p99 at a rate it can serve too,
				// 75% of its own saturation, in rounds of its own.
				own := float64(int(paths[i].Saturation.Achieved*pathRateShare/10+0.5) * 10)
				t := r.targetOf(c)
				turn(runs, r)
				for range saturationRounds {
					time.Sleep(300 * time.Millisecond)
					paths[i].OwnRateRounds = append(paths[i].OwnRateRounds, measure(r, func() Result { return r.Client.OpenLoop(t, max(own, 10), o.step*3/5) }))
				}
				paths[i].AtOwnRate = medianP99(paths[i].OwnRateRounds)
			}
			for _, m := range slices.Concat(paths[i].Rounds, paths[i].RateRounds, paths[i].OwnRateRounds) {
				paths[i].PeakRSS = max(paths[i].PeakRSS, m.MaxRSS)
				paths[i].PeakAnon = max(paths[i].PeakAnon, m.MaxAnon)
			}
			r.Paths = append(r.Paths, paths[i])
			if !r.Peer {
				// The request kinds' table shows the pod paths' median round.
				r.Kinds = append(r.Kinds, KindRun{Case: c.Name, M: paths[i].Saturation})
			}
		}
	}
}

// medianP99 is the round of median p99.
func medianP99(rounds []Measured) Measured {
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b Measured) int { return cmpFloat(float64(a.Percentile(99)), float64(b.Percentile(99))) })
	return sorted[len(sorted)/2]
}

// PathRatios are one pod path's ratios, ours to the baseline's.
type PathRatios struct {
	Case, Path           string
	Ours, Base           *PathRun
	Rate                 float64
	Throughput, P99, RSS float64
	Noise                float64 // the largest share of the servers' CPU other processes took in a step
}

// Met says which targets the path meets.
func (p PathRatios) Met() (throughput, p99, rss bool) {
	return p.Throughput >= targetPathThroughput, p.P99 <= targetPathP99, p.RSS <= targetPathRSS
}

// pathRatios pairs the servers' pod paths.
func (r *Report) pathRatios() []PathRatios {
	base, ours := r.runs()
	if base == nil || ours == nil {
		return nil
	}
	var out []PathRatios
	for i := range ours.Paths {
		o := &ours.Paths[i]
		j := slices.IndexFunc(base.Paths, func(b PathRun) bool { return b.Case == o.Case })
		if j < 0 {
			continue
		}
		b := &base.Paths[j]
		p := PathRatios{Case: o.Case, Path: corpus.Get(o.Case).Path, Ours: o, Base: b, Rate: b.AtRate.Offered}
		p.Throughput = ratio(o.Saturation.Achieved, b.Saturation.Achieved)
		p.P99 = ratio(float64(o.AtRate.Percentile(99)), float64(b.AtRate.Percentile(99)))
		p.RSS = ratio(float64(o.PeakRSS), float64(b.PeakRSS))
		for _, m := range slices.Concat(o.Rounds, b.Rounds, o.RateRounds, b.RateRounds) {
			if m.Duration > 0 {
				p.Noise = max(p.Noise, float64(m.OtherCPU)/float64(m.Duration))
			}
		}
		// Errors fail the path: a server that drops requests is not faster.
		for _, m := range slices.Concat(o.Rounds, o.RateRounds, []Measured{o.AtRate}) {
			if m.ErrorCount() > 0 {
				p.Throughput = 0
			}
		}
		out = append(out, p)
	}
	return out
}

// ratio is a/b, or +Inf-like 1e9 where b is 0 (nothing measured: missed).
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 1e9
	}
	return a / b
}

// Missed lists the issue 26 targets the run missed, one line each; none
// when the run measured no pod path.
func (r *Report) Missed() []string {
	var out []string
	for _, p := range r.pathRatios() {
		t, l, m := p.Met()
		if !t {
			out = append(out, fmt.Sprintf("%s: throughput %.2f of the baseline's (target ≥ %.2f)", p.Case, p.Throughput, targetPathThroughput))
		}
		if !l {
			out = append(out, fmt.Sprintf("%s: p99 at %.0f req/s %.2fx the baseline's (target ≤ %.2fx)", p.Case, p.Rate, p.P99, targetPathP99))
		}
		if !m {
			out = append(out, fmt.Sprintf("%s: peak RSS %.2fx the baseline's (target ≤ %.2fx)", p.Case, p.RSS, targetPathRSS))
		}
	}
	return out
}

func (r *Report) writePaths(p func(string, ...any)) {
	ratios := r.pathRatios()
	if len(ratios) == 0 {
		return
	}
	p("## Pod paths side by side: ratios to the baseline (issue 26)")
	p("")
	p("Each pod request on both servers in turn: saturation as a closed loop in %d rounds (the median round counts), then an open loop at %.0f req/s (%.0f%% of the baseline's saturation where that is less: above it both servers only queue) in as many rounds (the round of median p99 counts), and the largest RSS seen in those steps. Targets: throughput ≥ %.2f, p99 ≤ %.2fx, peak RSS (VmRSS) ≤ %.2fx of the baseline's; `make bench` exits 1 when one is missed. \"anon\" is the peak RssAnon, VmRSS less the mapped executable (heap and stacks), not a target. \"noise\" is the largest share of the servers' CPU other processes took in the path's steps: above a few percent, rerun.",
		saturationRounds, pathRate, 100*pathRateShare, targetPathThroughput, targetPathP99, targetPathRSS)
	p("")
	t := &table{header: []string{"request", "endpoint", "req/s ours", "baseline", "ratio", "rate", "p99 ours", "baseline", "ratio", "peak RSS ours", "baseline", "ratio", "anon ours", "baseline", "CPU/request ours", "baseline", "noise", "met"}}
	for _, x := range ratios {
		tm, lm, mm := x.Met()
		met := "yes"
		if !tm || !lm || !mm {
			met = "**no**"
		}
		t.add(x.Case, x.Path,
			fmt.Sprintf("%.0f", x.Ours.Saturation.Achieved), fmt.Sprintf("%.0f", x.Base.Saturation.Achieved), mark(fmt.Sprintf("%.2f", x.Throughput), tm),
			fmt.Sprintf("%.0f", x.Rate), dur(x.Ours.AtRate.Percentile(99)), dur(x.Base.AtRate.Percentile(99)), mark(fmt.Sprintf("%.2fx", x.P99), lm),
			mib(x.Ours.PeakRSS), mib(x.Base.PeakRSS), mark(fmt.Sprintf("%.2fx", x.RSS), mm), mib(x.Ours.PeakAnon), mib(x.Base.PeakAnon),
			dur(x.Ours.Saturation.CPUPerRequest()), dur(x.Base.Saturation.CPUPerRequest()), fmt.Sprintf("%.0f%%", 100*x.Noise), met)
	}
	t.write(p)
	if missed := r.Missed(); len(missed) > 0 {
		p("Missed: %d of %d targets.", len(missed), 3*len(ratios))
	} else {
		p("Every pod path meets the three targets.")
	}
	p("")
}

// mark puts a missed figure in bold.
func mark(s string, ok bool) string {
	if ok {
		return s
	}
	return "**" + s + "**"
}
