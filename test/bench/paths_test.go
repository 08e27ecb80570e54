package main

import (
	"strings"
	"testing"
	"time"
)

// The pod paths' ratios and the targets that fail `make bench`: each target
// missed alone is reported, and a run that meets all three reports none.
func TestMissedTargets(t *testing.T) {
	step := func(achieved float64, p99 time.Duration) Measured {
		lat := make([]time.Duration, 100)
		for i := range lat {
			lat[i] = p99 / 2
		}
		lat[98], lat[99] = p99, p99
		return Measured{Result: Result{Achieved: achieved, Offered: 1000, Sent: 100, OK: 100, Latency: lat, Duration: time.Second}}
	}
	path := func(sat float64, p99 time.Duration, rss uint64) PathRun {
		s := step(sat, 0)
		return PathRun{Case: "pod-9k-rewrite", Rounds: []Measured{s}, Saturation: s, AtRate: step(1000, p99), PeakRSS: rss}
	}
	base := path(2000, 4*time.Millisecond, 40<<20)
	for _, c := range []struct {
		name string
		ours PathRun
		want []string
	}{
		{"all met, at the limits", path(1800, 5*time.Millisecond, 50<<20), nil},
		{"throughput", path(1790, 4*time.Millisecond, 40<<20), []string{"throughput 0.90"}},
		{"p99", path(2000, 5100*time.Microsecond, 40<<20), []string{"p99 at 1000 req/s 1.27x"}},
		{"rss", path(2000, 4*time.Millisecond, 51<<20), []string{"peak RSS 1.27x"}},
		{"errors", func() PathRun {
			p := path(2000, 4*time.Millisecond, 40<<20)
			p.AtRate.Errors = map[string]int{"timeout": 1}
			return p
		}(), []string{"throughput 0.00"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Report{Runs: []*ServerRun{{Baseline: true, Paths: []PathRun{base}}, {Paths: []PathRun{c.ours}}}}
			missed := r.Missed()
			if len(missed) != len(c.want) {
				t.Fatalf("missed %q, want %d lines containing %q", missed, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(missed[i], w) || !strings.HasPrefix(missed[i], "pod-9k-rewrite: ") {
					t.Errorf("missed[%d] = %q, want it to contain %q", i, missed[i], w)
				}
			}
		})
	}
	if got := (&Report{}).Missed(); got != nil {
		t.Errorf("a run without pod paths missed %q", got)
	}
}

func TestRateFor(t *testing.T) {
	for sat, want := range map[float64]float64{4000: 1000, 1334: 1000, 1300: 980, 1000: 750} {
		if got := rateFor(sat); got != want {
			t.Errorf("rateFor(%v) = %v, want %v", sat, got, want)
		}
	}
}
