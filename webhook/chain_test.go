package webhook_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
)

// labelMutator sets the label "touched" and says so; run again, it does nothing.
type labelMutator struct{ calls int }

func (m *labelMutator) Name() string { return "label" }

func (m *labelMutator) Mutate(_ policies.Request, pod *corev1.Pod) []string {
	m.calls++
	if pod.Labels["touched"] == "yes" {
		return nil
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels["touched"] = "yes"
	return []string{`set label "touched" to "yes"`}
}

// nameValidator rejects pods named "bad" with two violations.
type nameValidator struct{ calls int }

func (v *nameValidator) Name() string { return "names" }

func (v *nameValidator) Validate(_ policies.Request, pod *corev1.Pod) []policies.Violation {
	v.calls++
	if pod.Name != "bad" {
		return nil
	}
	return []policies.Violation{
		policies.Violationf("metadata.name", "name %q is reserved (allowed: any other name)", pod.Name),
		{Detail: "the pod is bad"},
	}
}

func newChain(modes map[string]webhook.Mode, override webhook.Mode, metrics *webhook.Metrics) (*webhook.Chain[*corev1.Pod], *labelMutator, *nameValidator) {
	m, v := &labelMutator{}, &nameValidator{}
	return &webhook.Chain[*corev1.Pod]{
		Mutators:   []policies.Mutator[*corev1.Pod]{m},
		Validators: []policies.Validator[*corev1.Pod]{v},
		Modes:      func(p string) webhook.Mode { return modes[p] },
		Override:   override,
		Metrics:    metrics,
	}, m, v
}

func badPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "tenant-a"}}
}

const (
	nameDenial  = `metadata.name: name "bad" is reserved (allowed: any other name)`
	badDenial   = `the pod is bad`
	labelChange = `set label "touched" to "yes"`
)

func TestChainEnforce(t *testing.T) {
	c, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Enforce, "names": webhook.Enforce}, "", nil)
	pod := badPod()
	d := c.Mutate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod)
	if !d.Mutated || pod.Labels["touched"] != "yes" || len(d.Warnings) > 0 || len(d.AuditAnnotations) > 0 {
		t.Errorf("Mutate: %+v, labels %v; want the pod changed, nothing reported", d, pod.Labels)
	}
	d = c.Validate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod)
	want := []string{"[names] " + nameDenial, "[names] " + badDenial}
	if !reflect.DeepEqual(d.Denials, want) || d.Allowed() {
		t.Errorf("Validate denials %q, want %q", d.Denials, want)
	}
	if got, want := d.Message(), "[names] "+nameDenial+"; [names] "+badDenial; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
	if len(d.Warnings) > 0 || len(d.AuditAnnotations) > 0 {
		t.Errorf("enforce reported %q %q", d.Warnings, d.AuditAnnotations)
	}
}

func TestChainAudit(t *testing.T) {
	c, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Audit, "names": webhook.Audit}, "", nil)
	pod := badPod()
	d := c.Mutate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod)
	if d.Mutated || pod.Labels != nil {
		t.Errorf("audit mutated the pod: %+v, labels %v", d, pod.Labels)
	}
	if want := []string{"[label] would " + labelChange}; !reflect.DeepEqual(d.Warnings, want) {
		t.Errorf("Mutate warnings %q, want %q", d.Warnings, want)
	}
	if want := map[string]string{"label": "would " + labelChange}; !reflect.DeepEqual(d.AuditAnnotations, want) {
		t.Errorf("Mutate annotations %q, want %q", d.AuditAnnotations, want)
	}

	d = c.Validate(context.Background(), policies.Request{Namespace: "tenant-a"}, pod)
	if !d.Allowed() || d.Message() != "" {
		t.Errorf("audit denied: %q", d.Denials)
	}
	if want := []string{"[names] would deny: " + nameDenial, "[names] would deny: " + badDenial}; !reflect.DeepEqual(d.Warnings, want) {
		t.Errorf("Validate warnings %q, want %q", d.Warnings, want)
	}
	if want := map[string]string{"names": "would deny: " + nameDenial + "; would deny: " + badDenial}; !reflect.DeepEqual(d.AuditAnnotations, want) {
		t.Errorf("Validate annotations %q, want %q", d.AuditAnnotations, want)
	}
}

func TestChainOff(t *testing.T) {
	c, m, v := newChain(map[string]webhook.Mode{"label": webhook.Off, "names": webhook.Off}, "", nil)
	pod := badPod()
	req := policies.Request{Namespace: "tenant-a", NamespaceLabels: map[string]string{webhook.ModeLabel: "enforce"}}
	dm := c.Mutate(context.Background(), req, pod)
	dv := c.Validate(context.Background(), req, pod)
	if m.calls != 0 || v.calls != 0 {
		t.Errorf("off policies ran: mutator %d, validator %d calls", m.calls, v.calls)
	}
	if dm.Mutated || pod.Labels != nil || !dv.Allowed() || len(dm.Warnings)+len(dv.Warnings) > 0 {
		t.Errorf("off: %+v %+v", dm, dv)
	}
}

func TestChainNamespaceLabel(t *testing.T) {
	c, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Enforce, "names": webhook.Enforce}, "", nil)
	req := policies.Request{Namespace: "tenant-a", NamespaceLabels: map[string]string{webhook.ModeLabel: "audit"}}
	pod := badPod()
	if d := c.Mutate(context.Background(), req, pod); d.Mutated || pod.Labels != nil || len(d.Warnings) != 1 {
		t.Errorf("label audit: Mutate %+v, labels %v; want audit", d, pod.Labels)
	}
	if d := c.Validate(context.Background(), req, pod); !d.Allowed() || len(d.Warnings) != 2 {
		t.Errorf("label audit: Validate %+v; want audit", d)
	}
}

func TestChainOverride(t *testing.T) {
	modes := map[string]webhook.Mode{"label": webhook.Enforce, "names": webhook.Off}
	enforceLabel := policies.Request{Namespace: "tenant-a", NamespaceLabels: map[string]string{webhook.ModeLabel: "enforce"}}

	// Override audit beats the configured enforce and the namespace label.
	c, _, v := newChain(modes, webhook.Audit, nil)
	pod := badPod()
	d := c.Mutate(context.Background(), enforceLabel, pod)
	if d.Mutated || pod.Labels != nil || !reflect.DeepEqual(d.Warnings, []string{"[label] would " + labelChange}) {
		t.Errorf("override audit: Mutate %+v, labels %v", d, pod.Labels)
	}
	// A policy that is off stays off under the override.
	if d := c.Validate(context.Background(), enforceLabel, pod); v.calls != 0 || !d.Allowed() || len(d.Warnings) > 0 {
		t.Errorf("override audit switched an off policy on: %+v (%d calls)", d, v.calls)
	}

	// Override enforce beats a namespace label audit.
	c, _, _ = newChain(map[string]webhook.Mode{"label": webhook.Audit, "names": webhook.Audit}, webhook.Enforce, nil)
	auditLabel := policies.Request{Namespace: "tenant-a", NamespaceLabels: map[string]string{webhook.ModeLabel: "audit"}}
	pod = badPod()
	if d := c.Mutate(context.Background(), auditLabel, pod); !d.Mutated || pod.Labels["touched"] != "yes" {
		t.Errorf("override enforce: Mutate %+v", d)
	}
	if d := c.Validate(context.Background(), auditLabel, pod); d.Allowed() {
		t.Errorf("override enforce: Validate allowed %+v", d)
	}
}

func TestChainNoModes(t *testing.T) {
	// Without Modes every policy is enforced.
	c := &webhook.Chain[*corev1.Pod]{Validators: []policies.Validator[*corev1.Pod]{&nameValidator{}}}
	if d := c.Validate(context.Background(), policies.Request{}, badPod()); d.Allowed() {
		t.Errorf("no Modes: allowed %+v, want enforce", d)
	}
}

func TestDecisionMessageAndMerge(t *testing.T) {
	var empty webhook.Decision
	if !empty.Allowed() || empty.Message() != "" {
		t.Errorf("empty decision: allowed %v, message %q", empty.Allowed(), empty.Message())
	}
	one := webhook.Decision{Denials: []string{"[a] x: bad"}}
	if one.Allowed() || one.Message() != "[a] x: bad" {
		t.Errorf("one denial: allowed %v, message %q", one.Allowed(), one.Message())
	}

	d := webhook.Decision{Warnings: []string{"w1"}, AuditAnnotations: map[string]string{"a": "1"}}
	d.Merge(webhook.Decision{
		Denials:          []string{"[b] y: bad", "[c] z: worse"},
		Warnings:         []string{"w2"},
		AuditAnnotations: map[string]string{"b": "2"},
		Mutated:          true,
	})
	d.Merge(webhook.Decision{})
	want := webhook.Decision{
		Denials:          []string{"[b] y: bad", "[c] z: worse"},
		Warnings:         []string{"w1", "w2"},
		AuditAnnotations: map[string]string{"a": "1", "b": "2"},
		Mutated:          true,
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Merge:\n got %+v\nwant %+v", d, want)
	}
	if d.Message() != "[b] y: bad; [c] z: worse" {
		t.Errorf("Message() = %q", d.Message())
	}
	var into webhook.Decision
	into.Merge(webhook.Decision{AuditAnnotations: map[string]string{"x": "1"}})
	if into.AuditAnnotations["x"] != "1" {
		t.Errorf("Merge into an empty decision lost the annotation: %+v", into)
	}
}

func TestChainMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := webhook.NewMetrics(reg)
	enforce, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Enforce, "names": webhook.Enforce}, "", metrics)
	audit, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Audit, "names": webhook.Audit}, "", metrics)
	off, _, _ := newChain(map[string]webhook.Mode{"label": webhook.Off, "names": webhook.Off}, "", metrics)
	ctx, req := context.Background(), policies.Request{Namespace: "tenant-a"}

	enforce.Mutate(ctx, req, badPod())   // label enforce mutate
	enforce.Validate(ctx, req, badPod()) // names enforce deny
	pod := badPod()
	pod.Name = "good"
	enforce.Validate(ctx, req, pod)    // names enforce allow
	enforce.Mutate(ctx, req, pod)      // label enforce mutate (pod now labelled)
	enforce.Mutate(ctx, req, pod)      // label enforce allow (already labelled)
	audit.Mutate(ctx, req, badPod())   // label audit mutate
	audit.Validate(ctx, req, badPod()) // names audit deny
	off.Mutate(ctx, req, badPod())     // not counted
	off.Validate(ctx, req, badPod())   // not counted

	want := map[[3]string]float64{
		{"label", "enforce", "mutate"}: 2,
		{"label", "enforce", "allow"}:  1,
		{"names", "enforce", "deny"}:   1,
		{"names", "enforce", "allow"}:  1,
		{"label", "audit", "mutate"}:   1,
		{"names", "audit", "deny"}:     1,
	}
	got := map[[3]string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "platform_webhook_decisions_total" {
			t.Errorf("unexpected metric %q", f.GetName())
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[[3]string{labels["policy"], labels["mode"], labels["decision"]}] = m.GetCounter().GetValue()
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decisions:\n got %v\nwant %v", got, want)
	}
}
