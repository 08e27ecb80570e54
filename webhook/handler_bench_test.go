package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/bench/handlers"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// BenchmarkHandler is the whole handler per recorded request of the
// benchmark corpus (test/bench/corpus), as the server runs it: the HTTP body
// decoded as an AdmissionReview, the object decoded, the policy run in
// enforce mode (manifests/webhook/config.yaml), the patch computed, the
// response encoded; with decision metrics and info-level JSON logs (to
// io.Discard). VirtualServices are checked against 10 and 10,000 authorized
// Gateway hosts. A pod's creation costs its -rewrite and -registry requests.
func BenchmarkHandler(b *testing.B) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	cfg, err := config.Load(filepath.Join("..", "manifests", "webhook", "config.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	byHosts := map[int]map[string]admission.Handler{}
	for _, hosts := range []int{10, 10000} {
		if byHosts[hosts], err = handlers.Ours(cfg, webhook.NewMetrics(prometheus.NewRegistry()), hosts); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range corpus.Cases() {
		hostCounts := []int{10}
		if c.Kind == "VirtualService" {
			hostCounts = []int{10, 10000}
		}
		for _, hosts := range hostCounts {
			name := c.Name
			if c.Kind == "VirtualService" {
				name += "/hosts=" + strconv.Itoa(hosts)
			}
			b.Run(name, func(b *testing.B) {
				serveBench(b, handlers.Serve(byHosts[hosts][c.Path]), c)
			})
		}
	}
}

// serveBench checks the first answer against the case, then measures.
func serveBench(b *testing.B, h http.Handler, c corpus.Case) {
	b.Helper()
	rec := serve(h, c)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
		b.Fatalf("status %d, body %s: %v", rec.Code, rec.Body, err)
	}
	if r := review.Response; r.Allowed != c.Allowed || (len(r.Patch) > 0) != c.Patched || r.UID != c.Request().UID {
		b.Fatalf("allowed %v, patch %s, uid %q; want allowed %v, patched %v (%v)", r.Allowed, r.Patch, r.UID, c.Allowed, c.Patched, r.Result)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rec := serve(h, c); rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func serve(h http.Handler, c corpus.Case) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, c.Path, bytes.NewReader(c.Review))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
