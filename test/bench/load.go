package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// requestTimeout is the webhooks' timeoutSeconds (manifests/webhook): an
// answer later than this, counted from the request's scheduled send time,
// is one the apiserver would not have waited for, so it is an error.
const requestTimeout = 5 * time.Second

// Client sends AdmissionReviews as the apiserver does: HTTPS, HTTP/1.1, a
// pool of keep-alive connections (the apiserver's webhook client keeps up to
// 25 idle per host).
type Client struct {
	http *http.Client
	base string // https://127.0.0.1:port
	// Timeout bounds each request from its scheduled send time.
	Timeout time.Duration
}

// poolSize is the number of connections the client keeps open.
const poolSize = 25

// NewClient trusts the server's certificate caPEM.
func NewClient(base string, caPEM []byte) (*Client, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the server's tls.crt")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		ForceAttemptHTTP2:   false,
		MaxConnsPerHost:     poolSize,
		MaxIdleConnsPerHost: poolSize,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{http: &http.Client{Transport: tr}, base: base, Timeout: requestTimeout}, nil
}

// Close closes the idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Target is what one request sends and what its answer must contain.
type Target struct {
	Path string
	Body []byte
	// Want are byte strings the response body must contain (its uid, the
	// decision); Reject those it must not (a patch where none is due).
	Want, Reject [][]byte
}

// errWrongAnswer is an answer that is not the one the case expects.
var errWrongAnswer = errors.New("wrong answer")

// do sends one request; deadline bounds it.
func (c *Client) do(t Target, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+t.Path, bytes.NewReader(t.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	for _, w := range t.Want {
		if !bytes.Contains(body, w) {
			return errWrongAnswer
		}
	}
	for _, r := range t.Reject {
		if bytes.Contains(body, r) {
			return errWrongAnswer
		}
	}
	return nil
}

// Warm opens the pool's connections (TLS handshakes are not measured).
func (c *Client) Warm(t Target) error {
	var wg sync.WaitGroup
	errs := make([]error, poolSize)
	for i := range poolSize {
		wg.Go(func() { errs[i] = c.do(t, time.Now().Add(10*time.Second)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Result is what one load step measured.
type Result struct {
	Offered  float64         // requests per second scheduled (0: closed loop)
	Sent     int             // requests sent
	OK       int             // answered in time with the expected answer
	Errors   map[string]int  // by kind: timeout, transport, status, wrong answer
	Latency  []time.Duration // of the OK requests, sorted
	Duration time.Duration   // first scheduled send to last answer
	// Achieved is OK answers per second over Duration.
	Achieved float64
}

// ErrorCount is the number of failed requests.
func (r Result) ErrorCount() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Percentile of the OK latencies (p in [0, 100]); 0 without any.
func (r Result) Percentile(p float64) time.Duration { return percentile(r.Latency, p) }

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100 - 1e-9)) // 1-based
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func classify(err error) string {
	var netErr interface{ Timeout() bool }
	switch {
	case errors.Is(err, errWrongAnswer):
		return "wrong answer"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case err != nil && len(err.Error()) > 7 && err.Error()[:7] == "status ":
		return err.Error()
	}
	return "transport"
}

type outcome struct {
	latency time.Duration
	err     error
}

func collect(offered float64, outcomes []outcome, start, end time.Time) Result {
	r := Result{Offered: offered, Sent: len(outcomes), Errors: map[string]int{}, Duration: end.Sub(start)}
	for _, o := range outcomes {
		if o.err != nil {
			r.Errors[classify(o.err)]++
			continue
		}
		r.OK++
		r.Latency = append(r.Latency, o.latency)
	}
	slices.Sort(r.Latency)
	if r.Duration > 0 {
		r.Achieved = float64(r.OK) / r.Duration.Seconds()
	}
	return r
}

// OpenLoop sends t at a fixed rate for d, whatever the server does: request
// i is scheduled at start + i/rate and sent then (on its own goroutine, over
// a free pooled connection, or queued for one as the apiserver would), and
// its latency is counted from that scheduled time, so time spent waiting
// behind a slow server counts (no coordinated omission). An answer later
// than c.Timeout after the scheduled time is an error.
func (c *Client) OpenLoop(t Target, rate float64, d time.Duration) Result {
	n := max(1, int(rate*d.Seconds()))
	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	start := time.Now().Add(5 * time.Millisecond)
	var last atomic.Int64
	// The pacer sleeps in nanosleep(2) on a thread of its own: Go's timers
	// wake up to a millisecond late on this kind of machine, nanosleep within
	// tens of microseconds. A pacer behind schedule sends at once.
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := range n {
			at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if wait := time.Until(at); wait > 0 {
				ts := syscall.NsecToTimespec(wait.Nanoseconds())
				for syscall.Nanosleep(&ts, &ts) != nil { // EINTR: sleep the rest
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.do(t, at.Add(c.Timeout))
				now := time.Now()
				outcomes[i] = outcome{latency: now.Sub(at), err: err}
				for {
					l := last.Load()
					if now.UnixNano() <= l || last.CompareAndSwap(l, now.UnixNano()) {
						break
					}
				}
			}()
		}
		close(done)
	}()
	<-done
	wg.Wait()
	return collect(rate, outcomes, start, time.Unix(0, last.Load()))
}

// ClosedLoop keeps poolSize requests in flight for d: each connection sends
// its next request as soon as the last is answered. Its Achieved is the
// server's saturation throughput.
func (c *Client) ClosedLoop(t Target, d time.Duration) Result {
	start := time.Now()
	end := start.Add(d)
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	for range poolSize {
		wg.Go(func() {
			var mine []outcome
			for time.Now().Before(end) {
				sent := time.Now()
				err := c.do(t, sent.Add(c.Timeout))
				mine = append(mine, outcome{latency: time.Since(sent), err: err})
			}
			mu.Lock()
			outcomes = append(outcomes, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return collect(0, outcomes, start, time.Now())
}
