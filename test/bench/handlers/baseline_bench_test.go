package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/bench/handlers"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// BenchmarkBaselineHandler is the baseline's handler (decode the object,
// allow) per recorded request, served as BenchmarkHandler in webhook/ serves
// platform-webhook's: the difference is what the policies cost.
func BenchmarkBaselineHandler(b *testing.B) {
	scheme, err := config.Scheme()
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for _, c := range corpus.Cases() {
		paths = append(paths, c.Path)
	}
	hs := handlers.Baseline(admission.NewDecoder(scheme), paths)
	for _, c := range corpus.Cases() {
		b.Run(c.Name, func(b *testing.B) {
			h := handlers.Serve(hs[c.Path])
			rec := serve(h, c)
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil || !review.Response.Allowed {
				b.Fatalf("status %d, body %s: %v", rec.Code, rec.Body, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if rec := serve(h, c); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

func serve(h http.Handler, c corpus.Case) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, c.Path, bytes.NewReader(c.Review))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
