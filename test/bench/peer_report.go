package main

import (
	"fmt"
	"slices"
)

// peer is the peer's run, nil when it did not run.
func (r *Report) peer() *ServerRun {
	for _, run := range r.Runs {
		if run.Peer {
			return run
		}
	}
	return nil
}

// pathOf is run's pod path for case name, nil when it did not run it.
func pathOf(run *ServerRun, name string) *PathRun {
	if run == nil {
		return nil
	}
	i := slices.IndexFunc(run.Paths, func(p PathRun) bool { return p.Case == name })
	if i < 0 {
		return nil
	}
	return &run.Paths[i]
}

// writePeer prints the peer beside the two servers, path by path: what it
// does with the same requests, same steps, same CPU. Not a target.
func (r *Report) writePeer(p func(string, ...any)) {
	peer := r.peer()
	if peer == nil {
		return
	}
	base, ours := r.runs()
	p("## Kyverno %s as a peer on the image-rewrite pod paths (not a target)", peer.Version)
	p("")
	p("Kyverno's admission controller (cmd/kyverno, a replica that is not the leader: the benchmark holds the Lease and wrote its certificates), pinned to the same CPU and paused (SIGSTOP) during the two servers' steps, with a ClusterPolicy doing image-rewrite's rewrite (checked at start-up to give every corpus pod exactly our images), sent the same reviews at `%s`, in turn with the two servers: the same saturation rounds, the same open-loop rate (the baseline's), then an open loop at 75%% of its own saturation (a rate it can serve), the largest RSS seen. Kyverno logs at -v=2 (the chart's), writes no events and no admission reports. Idle RSS after start-up: %s. Errors at the rate are answers later than %s: a rate above what the server can serve.",
		kyvernoMutatePath, mib(peer.IdleRSS), requestTimeout)
	p("")
	t := &table{header: []string{"request", "req/s kyverno", "ours", "baseline", "kyverno/ours", "rate", "p99 kyverno", "ours", "errors at the rate", "its own rate", "p99 kyverno there", "peak RSS kyverno", "ours", "anon kyverno", "ours", "CPU/request kyverno", "ours", "baseline", "noise"}}
	for _, k := range peer.Paths {
		o, b := pathOf(ours, k.Case), pathOf(base, k.Case)
		if o == nil || b == nil {
			continue
		}
		noise := 0.0
		for _, m := range slices.Concat(k.Rounds, k.RateRounds, k.OwnRateRounds) {
			if m.Duration > 0 {
				noise = max(noise, float64(m.OtherCPU)/float64(m.Duration))
			}
		}
		errs := 0
		for _, m := range k.RateRounds {
			errs += m.ErrorCount()
		}
		sent := 0
		for _, m := range k.RateRounds {
			sent += m.Sent
		}
		t.add(k.Case, fmt.Sprintf("%.0f", k.Saturation.Achieved), fmt.Sprintf("%.0f", o.Saturation.Achieved), fmt.Sprintf("%.0f", b.Saturation.Achieved),
			fmt.Sprintf("%.2f", ratio(k.Saturation.Achieved, o.Saturation.Achieved)),
			fmt.Sprintf("%.0f", b.AtRate.Offered), dur(k.AtRate.Percentile(99)), dur(o.AtRate.Percentile(99)), fmt.Sprintf("%d of %d", errs, sent),
			fmt.Sprintf("%.0f", k.AtOwnRate.Offered), dur(k.AtOwnRate.Percentile(99)),
			mib(k.PeakRSS), mib(o.PeakRSS), mib(k.PeakAnon), mib(o.PeakAnon),
			dur(k.Saturation.CPUPerRequest()), dur(o.Saturation.CPUPerRequest()), dur(b.Saturation.CPUPerRequest()), fmt.Sprintf("%.0f%%", 100*noise))
	}
	t.write(p)
	p("Kyverno's peak RSS (VmHWM) over its whole run: %s.", mib(peer.PeakRSS))
	p("")
}
