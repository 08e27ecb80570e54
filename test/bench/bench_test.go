package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

// tlsServer is an HTTP/1.1 TLS server and a client of the benchmark's kind
// for it.
func tlsServer(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = false
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := NewClient(srv.URL, ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

const allowed = `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":true}}`

var allowedTarget = Target{Path: "/image-rewrite", Body: []byte(`{}`), Want: [][]byte{[]byte(`"uid":"u1"`), []byte(`"allowed":true`)}, Reject: [][]byte{[]byte(`"patch":`)}}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, x := range n {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99.9, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 99.9, 100 * time.Millisecond},
		{ms(hundred...), 0, 1 * time.Millisecond},
	} {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.sorted, c.p, got, c.want)
		}
	}
}

// A server that answers one request at a time, each in 20 ms, gets 100
// requests/s: the open loop keeps sending at that rate, so the queue grows
// and the last requests wait about half a second. A closed loop (or a
// generator that waits for answers) would report 20 ms for every request.
func TestOpenLoopKeepsTheRate(t *testing.T) {
	var mu sync.Mutex
	c := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		time.Sleep(20 * time.Millisecond)
		mu.Unlock()
		w.Write([]byte(allowed))
	})
	res := c.OpenLoop(allowedTarget, 100, 500*time.Millisecond)
	if res.Sent != 50 || res.OK != 50 || res.ErrorCount() != 0 {
		t.Fatalf("sent %d, ok %d, errors %v; want 50, 50, none", res.Sent, res.OK, res.Errors)
	}
	if p50, p99, min := res.Percentile(50), res.Percentile(99), res.Latency[0]; p50 < 150*time.Millisecond || p99 < 350*time.Millisecond || min < 20*time.Millisecond {
		t.Errorf("p50 %v, p99 %v, min %v: want the queue's growth (p50 >= 150ms, p99 >= 350ms) and at least the service time", p50, p99, min)
	}
	// Only the upper bound: a loaded machine may serve fewer, never more.
	if res.Achieved > 65 {
		t.Errorf("achieved %.1f req/s, more than the server's 50", res.Achieved)
	}
}

// Waiting for one of the pool's connections counts: 25 connections, each
// request held 100 ms, 500 requests/s for 0.2 s. The last requests are sent
// 100 ms after their scheduled time and answered 100 ms later.
func TestOpenLoopCountsTheWaitForAConnection(t *testing.T) {
	c := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		w.Write([]byte(allowed))
	})
	if err := c.Warm(allowedTarget); err != nil {
		t.Fatal(err)
	}
	res := c.OpenLoop(allowedTarget, 500, 200*time.Millisecond)
	if res.OK != 100 {
		t.Fatalf("ok %d of %d, errors %v", res.OK, res.Sent, res.Errors)
	}
	if max := res.Percentile(100); max < 180*time.Millisecond {
		t.Errorf("max latency %v: the wait for a connection is not counted", max)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		want    map[string]int
	}{
		{"late", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
			w.Write([]byte(allowed))
		}, 50 * time.Millisecond, map[string]int{"timeout": 5}},
		{"denied instead of allowed", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"response":{"uid":"u1","allowed":false}}`))
		}, time.Second, map[string]int{"wrong answer": 5}},
		{"patched", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"response":{"uid":"u1","allowed":true,"patch":"W10="}}`))
		}, time.Second, map[string]int{"wrong answer": 5}},
		{"another uid", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"response":{"uid":"u2","allowed":true}}`))
		}, time.Second, map[string]int{"wrong answer": 5}},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, time.Second, map[string]int{"status 500": 5}},
		{"ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(allowed)) }, time.Second, map[string]int{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := tlsServer(t, c.handler)
			cl.Timeout = c.timeout
			res := cl.OpenLoop(allowedTarget, 100, 50*time.Millisecond)
			if !reflect.DeepEqual(res.Errors, c.want) || res.Sent != 5 {
				t.Errorf("errors %v of %d sent, want %v of 5", res.Errors, res.Sent, c.want)
			}
		})
	}
}

// The closed loop keeps its connections busy at once: the server sees
// several requests in flight together (a throughput figure would depend on
// how loaded the machine is, so none is asserted).
func TestClosedLoop(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	c := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.Write([]byte(allowed))
	})
	res := c.ClosedLoop(allowedTarget, 300*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if res.ErrorCount() != 0 || res.OK == 0 || most < 2 {
		t.Errorf("ok %d, errors %v, at most %d in flight at once; want no errors and several in flight", res.OK, res.Errors, most)
	}
}

func TestLoadRates(t *testing.T) {
	for _, c := range []struct {
		saturation float64
		want       []float64
	}{
		{2000, []float64{250, 500, 1000, 1500, 1800, 2000}},
		{1040, []float64{250, 500, 780, 940, 1000}},
		{300, []float64{150, 230, 250, 270, 300, 500, 1000}},
	} {
		if got := loadRates(c.saturation); !reflect.DeepEqual(got, c.want) {
			t.Errorf("loadRates(%v) = %v, want %v", c.saturation, got, c.want)
		}
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/flux-infra/platform-webhook/webhook
BenchmarkHandler/pod-9k-rewrite         	    1585	    786067 ns/op	  169416 B/op	    1322 allocs/op
BenchmarkGatewayHosts/allowed/hosts=10  	 2103571	       554.8 ns/op	      48 B/op	       3 allocs/op
BenchmarkX-2 	 10	 12.5 ns/op	 80.00 MB/s	 0 B/op	 0 allocs/op
PASS
`
	got := parseGoBench(out)
	want := []GoBench{
		{"Handler/pod-9k-rewrite", 786067, 169416, 1322},
		{"GatewayHosts/allowed/hosts=10", 554.8, 48, 3},
		{"X-2", 12.5, 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseGoBench = %+v, want %+v", got, want)
	}
}

func TestParseWebhookHistograms(t *testing.T) {
	text := `# HELP apiserver_admission_webhook_admission_duration_seconds [STABLE] Admission webhook latency
# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-rewrite.flux-infra.io",operation="CREATE",rejected="false",type="admit",le="0.005"} 180
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-rewrite.flux-infra.io",operation="CREATE",rejected="false",type="admit",le="0.025"} 199
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-rewrite.flux-infra.io",operation="CREATE",rejected="false",type="admit",le="+Inf"} 200
apiserver_admission_webhook_admission_duration_seconds_sum{name="image-rewrite.flux-infra.io",operation="CREATE",rejected="false",type="admit"} 0.5
apiserver_admission_webhook_admission_duration_seconds_count{name="image-rewrite.flux-infra.io",operation="CREATE",rejected="false",type="admit"} 200
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-registry.flux-infra.io",operation="CREATE",rejected="true",type="validating",le="0.005"} 1
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-registry.flux-infra.io",operation="CREATE",rejected="true",type="validating",le="+Inf"} 2
apiserver_admission_webhook_admission_duration_seconds_count{name="image-registry.flux-infra.io",operation="CREATE",rejected="true",type="validating"} 2
apiserver_admission_webhook_admission_duration_seconds_sum{name="image-registry.flux-infra.io",operation="CREATE",rejected="true",type="validating"} 0.02
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-registry.flux-infra.io",operation="CREATE",rejected="false",type="validating",le="0.005"} 10
apiserver_admission_webhook_admission_duration_seconds_bucket{name="image-registry.flux-infra.io",operation="CREATE",rejected="false",type="validating",le="+Inf"} 10
apiserver_admission_webhook_admission_duration_seconds_count{name="image-registry.flux-infra.io",operation="CREATE",rejected="false",type="validating"} 10
apiserver_admission_webhook_admission_duration_seconds_sum{name="image-registry.flux-infra.io",operation="CREATE",rejected="false",type="validating"} 0.03
apiserver_admission_webhook_admission_duration_seconds_count{name="image-registry.flux-infra.io",operation="UPDATE",rejected="false",type="validating"} 7
apiserver_request_total{code="201",verb="POST"} 9
`
	got := parseWebhookHistograms(text, "operation", "CREATE")
	want := []WebhookHistogram{
		{Name: "image-rewrite.flux-infra.io", Type: "admit", Buckets: []Bucket{{"0.005", 180}, {"0.025", 199}, {"+Inf", 200}}, Count: 200, Sum: 0.5},
		{Name: "image-registry.flux-infra.io", Type: "validating", Buckets: []Bucket{{"0.005", 11}, {"+Inf", 12}}, Count: 12, Sum: 0.05},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseWebhookHistograms =\n%+v\nwant\n%+v", got, want)
	}
}

func TestProcessFigures(t *testing.T) {
	rss, peak, err := Memory(os.Getpid())
	if err != nil || rss == 0 || peak < rss {
		t.Errorf("Memory = %d, %d, %v", rss, peak, err)
	}
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) { // burn some CPU
	}
	if cpu, err := CPUTime(os.Getpid()); err != nil || cpu <= 0 {
		t.Errorf("CPUTime = %v, %v", cpu, err)
	}
	if busy := cpuBusy(0); busy <= 0 {
		t.Errorf("cpuBusy(0) = %v", busy)
	}
	if busy := cpuBusy(-1); busy != 0 {
		t.Errorf("cpuBusy(-1) = %v", busy)
	}
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0",
		549 * time.Nanosecond:    "549 ns",
		2345 * time.Nanosecond:   "2.35 µs",
		626049 * time.Nanosecond: "626 µs",
		20300 * time.Microsecond: "20.3 ms",
		2400 * time.Millisecond:  "2.4 s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
}
