package report

import (
	"context"
	"fmt"
	"reflect"
	"strconv"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/webhook/config"
)

// ReportName is the name of the Report the reporter keeps in each
// namespace; ReportSource its source (what Policy Reporter shows).
const (
	ReportName   = "platform-webhook"
	ReportSource = "platform-webhook"
)

// Reporter keeps the report's findings in the cluster as OpenReports: a
// Report per namespace (openreports.io/v1alpha1), and the gauge
// platform_webhook_existing_findings{policy,namespace,result}. The
// policies review only namespaced objects, so there is no ClusterReport.
type Reporter struct {
	Reader client.Reader // paged lists, uncached (the manager's API reader)
	Writer client.Client // Reports
	Config *config.Config
	Gauge  *prometheus.GaugeVec
}

// NewFindingsGauge is platform_webhook_existing_findings, registered on reg.
func NewFindingsGauge(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "platform_webhook_existing_findings",
		Help: "Findings on existing objects, by policy, namespace and result (deny, mutate, warn), as of the reporter's last run.",
	}, []string{"policy", "namespace", "result"})
	reg.MustRegister(g)
	return g
}

// SyncResult says what one run did.
type SyncResult struct {
	Findings         int
	Written, Skipped int // Reports created or updated; left as they were
}

// Sync runs the report over the given namespaces (none: the whole cluster)
// and makes each one's Report say it. A Report that would not change is not
// written.
func (r *Reporter) Sync(ctx context.Context, only ...string) (SyncResult, error) {
	findings, namespaces, err := Run(ctx, r.Reader, r.Config, Options{Namespaces: only, skipMissing: true})
	if err != nil {
		return SyncResult{}, err
	}
	byNS := map[string][]Finding{}
	for _, f := range findings {
		byNS[f.Namespace] = append(byNS[f.Namespace], f)
	}
	res := SyncResult{Findings: len(findings)}
	if r.Gauge != nil {
		if len(only) == 0 {
			r.Gauge.Reset()
		}
		for _, ns := range namespaces {
			r.Gauge.DeletePartialMatch(prometheus.Labels{"namespace": ns})
		}
		for _, f := range findings {
			r.Gauge.WithLabelValues(f.Policy, f.Namespace, f.Result).Add(float64(max(f.Pods, 1)))
		}
	}
	for _, ns := range namespaces {
		written, err := r.write(ctx, ns, byNS[ns])
		if err != nil {
			return res, err
		}
		if written {
			res.Written++
		} else {
			res.Skipped++
		}
	}
	return res, nil
}

// write creates or updates ns's Report unless it already says this.
func (r *Reporter) write(ctx context.Context, ns string, findings []Finding) (bool, error) {
	want := ToReport(ns, findings)
	var have openreportsv1alpha1.Report
	err := r.Writer.Get(ctx, client.ObjectKey{Namespace: ns, Name: ReportName}, &have)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Writer.Create(ctx, want); err != nil && !apierrors.IsNotFound(err) { // namespace going away
			return false, fmt.Errorf("create Report %s/%s: %w", ns, ReportName, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get Report %s/%s: %w", ns, ReportName, err)
	}
	if have.Source == want.Source && reflect.DeepEqual(have.Summary, want.Summary) &&
		reflect.DeepEqual(normalResults(have.Results), normalResults(want.Results)) && have.Labels[managedByLabel] == managedBy {
		return false, nil
	}
	have.Source, have.Summary, have.Results = want.Source, want.Summary, want.Results
	if have.Labels == nil {
		have.Labels = map[string]string{}
	}
	have.Labels[managedByLabel] = managedBy
	if err := r.Writer.Update(ctx, &have); err != nil {
		return false, fmt.Errorf("update Report %s/%s: %w", ns, ReportName, err)
	}
	return true, nil
}

const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "platform-webhook-reporter"
)

func normalResults(rs []openreportsv1alpha1.ReportResult) []openreportsv1alpha1.ReportResult {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// ToReport is a namespace's findings as its Report: one result per finding,
// fail for what enforce would deny, warn for what it would change or warn
// about; the summary counts them. No timestamps: a run that finds the same
// leaves the Report as it is.
func ToReport(ns string, findings []Finding) *openreportsv1alpha1.Report {
	rep := &openreportsv1alpha1.Report{
		ObjectMeta: metav1.ObjectMeta{Name: ReportName, Namespace: ns, Labels: map[string]string{managedByLabel: managedBy}},
		Source:     ReportSource,
	}
	for _, f := range findings {
		result, severity := openreportsv1alpha1.Result("warn"), openreportsv1alpha1.ResultSeverity("low")
		if f.Result == Deny {
			result, severity = "fail", "high"
			rep.Summary.Fail++
		} else {
			rep.Summary.Warn++
		}
		subject := corev1.ObjectReference{Kind: f.Kind, Namespace: f.Namespace, Name: f.Name}
		props := map[string]string{"mode": f.Mode, "result": f.Result}
		if f.Owner != "" {
			props["owner"], props["pods"] = f.Owner, strconv.Itoa(f.Pods)
		}
		rep.Results = append(rep.Results, openreportsv1alpha1.ReportResult{
			Source: ReportSource, Policy: f.Policy, Result: result, Severity: severity, Scored: f.Result == Deny,
			Subjects: []corev1.ObjectReference{subject}, Description: f.Message, Properties: props,
		})
	}
	return rep // results in the findings' order: sorted by Run
}
