package manifests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// identifier finds the names of a PromQL expression; those with an
// underscore that are not functions are metrics (the label names used, le,
// code, webhook, policy..., have none), and so is "up".
var identifier = regexp.MustCompile(`\b([a-z_][a-z0-9_]*)\b`)

// knownMetrics are the metrics the alerts and the dashboard may use, each
// with the file that defines it (checked to exist there) or "" for
// Prometheus' own and controller-runtime's.
var knownMetrics = map[string]string{
	"up": "",
	"controller_runtime_webhook_requests_total":         "",
	"controller_runtime_webhook_latency_seconds_bucket": "",
	"platform_webhook_decisions_total":                  "webhook/metrics.go",
	"platform_webhook_existing_findings":                "webhook/report/reporter.go",
}

// TestMonitoringMetrics: every metric the PrometheusRule and the Grafana
// dashboard query is one the webhook or the reporter exports (a renamed
// metric would leave an alert silent forever).
func TestMonitoringMetrics(t *testing.T) {
	for name, file := range knownMetrics {
		if file == "" {
			continue
		}
		src, err := os.ReadFile(filepath.Join(repoRoot(), file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), `"`+name+`"`) {
			t.Errorf("%s does not define %s any more", file, name)
		}
	}

	var exprs []string
	raw, err := os.ReadFile(filepath.Join(manifestsDir(), "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Expr string
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	raw, err = os.ReadFile(filepath.Join(manifestsDir(), "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 8 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	functions := map[string]bool{"absent": true, "sum": true, "rate": true, "increase": true, "histogram_quantile": true, "by": true}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range identifier.FindAllStringSubmatch(e, -1) {
			if functions[m[1]] || (!strings.Contains(m[1], "_") && m[1] != "up") {
				continue
			}
			used[m[1]] = true
			if _, ok := knownMetrics[m[1]]; !ok {
				t.Errorf("%q queries %s, which nothing exports", e, m[1])
			}
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != len(knownMetrics) {
		t.Errorf("queried %v; every known metric should be used", names)
	}
}
