package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// peerCase says whether a pod path is measured on the peer too: Kyverno's
// policy does image-rewrite's work only.
func peerCase(c corpus.Case) bool { return c.Path == "/image-rewrite" }

// errPeerAnswer is a peer whose answers differ from ours: measuring it
// would compare different work, so the benchmark stops.
var errPeerAnswer = errors.New("kyverno's rewrite differs from image-rewrite's")

// startPeer sets Kyverno up in the cluster, starts it pinned to cpu, and
// checks, before anything is measured, that for every image-rewrite pod of
// the corpus its patch gives exactly the images ours gives. An error
// wrapping errPeerAnswer must stop the benchmark; any other says Kyverno
// could not be started (the benchmark goes on without it).
func startPeer(ctx context.Context, kb *kyvernoBuild, cluster *harness.Cluster, work string, cpu int, ours *ServerRun) (*ServerRun, error) {
	cfg, err := config.Load(filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml"))
	if err != nil {
		return nil, err
	}
	img := cfg.Policies.ImageRewrite.ImageConfig
	policy, err := kyvernoPolicy(img, img.ExcludeNamespaces)
	if err != nil {
		return nil, err
	}
	issued, err := setUpKyverno(ctx, cluster, kb, policy)
	if err != nil {
		return nil, err
	}
	srv, err := startKyverno(kb, work, cpu, cluster.Kubeconfig, issued)
	if err != nil {
		return nil, err
	}
	run := &ServerRun{Server: srv, Peer: true, CPU: cpu}
	if run.Client, err = NewClient(srv.Base, issued.CAPEM); err != nil {
		srv.Stop()
		return nil, err
	}
	if err := checkPeer(run.Client, ours.Client, img); err != nil {
		run.Client.Close()
		srv.Stop()
		return nil, err
	}
	return run, nil
}

// checkPeer posts every image-rewrite pod to both and compares the pods
// their patches give (sameRewrite). Kyverno's policy cache fills after its
// informers sync: an answer without a patch is retried for a while.
func checkPeer(peer, ours *Client, cfg policies.ImageConfig) error {
	for _, c := range podPaths() {
		if !peerCase(c) {
			continue
		}
		mine, err := ours.post(c.Path, c.Review)
		if err != nil {
			return fmt.Errorf("%s to platform-webhook: %w", c.Name, err)
		}
		var theirs []byte
		for deadline := time.Now().Add(30 * time.Second); ; {
			theirs, err = peer.post(kyvernoMutatePath, c.Review)
			if err == nil && strings.Contains(string(theirs), `"patch":`) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("%s to kyverno: %w", c.Name, err)
		}
		if err := sameRewrite(c.Object(), theirs, mine, cfg); err != nil {
			return fmt.Errorf("%w: %s: %v\nkyverno answered: %s", errPeerAnswer, c.Name, err, theirs)
		}
	}
	return nil
}

// peerTarget is what the peer is sent for a pod path and what its answer
// must hold: the same review, to Kyverno's mutating endpoint, patched.
func peerTarget(c corpus.Case) Target {
	return Target{Path: kyvernoMutatePath, Body: c.Review, Want: [][]byte{
		[]byte(`"uid":"` + string(c.Request().UID) + `"`), []byte(`"allowed":true`), []byte(`"patch":`),
	}}
}

// targetOf is what run is sent for case c.
func (r *ServerRun) targetOf(c corpus.Case) Target {
	if r.Peer {
		return peerTarget(c)
	}
	return target(c, r.Baseline)
}

// settle waits, after a peer's step, until the peer stops using CPU: the
// requests the load generator gave up on (5 s) may still be running in it,
// on the servers' CPU, and would fall on the next server's step. The two
// servers answer all they are sent in time, so nothing is left of theirs.
func (r *ServerRun) settle() {
	if !r.Peer {
		return
	}
	last, _ := CPUTime(r.Server.Pid())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		now, err := CPUTime(r.Server.Pid())
		if err != nil || now-last < 10*time.Millisecond { // idle: its background work only
			return
		}
		last = now
	}
}

// turn gives the servers' CPU to r for its step: a peer runs only for its
// own steps and is paused (SIGSTOP) for the others'. Idle, Kyverno still
// works (Go's collector over a heap of 100 MiB and more, its informers), on
// the servers' CPU, and as one of the pinned processes that work would not
// even show as noise: it fell on the two servers' steps as stalls of
// hundreds of milliseconds (p99s of 0.1 to 0.5 s at 75% load in one run).
func turn(runs []*ServerRun, r *ServerRun) {
	for _, x := range runs {
		switch {
		case !x.Peer:
		case x == r:
			x.Server.Resume()
		default:
			x.Server.Pause()
		}
	}
}
