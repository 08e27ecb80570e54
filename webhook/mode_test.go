package webhook_test

import (
	"testing"

	"github.com/flux-infra/platform-webhook/webhook"
)

func TestParseMode(t *testing.T) {
	for _, s := range []string{"enforce", "audit", "off"} {
		if m, err := webhook.ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Enforce", "warn", "dryrun"} {
		if m, err := webhook.ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) = %q, want an error", s, m)
		}
	}
	if _, err := webhook.ParseMode("strict"); err == nil || err.Error() != `unknown mode "strict"` {
		t.Errorf("ParseMode(strict) error %v", err)
	}
}

func TestEffective(t *testing.T) {
	const label = "flux-infra.io/admission-mode"
	if webhook.ModeLabel != label {
		t.Fatalf("ModeLabel = %q, want %q (a contract with tenants' namespaces)", webhook.ModeLabel, label)
	}
	E, A, O := webhook.Enforce, webhook.Audit, webhook.Off
	labels := []struct {
		name   string
		labels map[string]string
	}{
		{"no labels", nil},
		{"other labels", map[string]string{"team": "shop"}},
		{"enforce", map[string]string{label: "enforce"}},
		{"audit", map[string]string{label: "audit"}},
		{"off", map[string]string{label: "off"}},
		{"bogus", map[string]string{label: "bogus"}},
		{"upper case", map[string]string{label: "Audit"}},
		{"empty", map[string]string{label: ""}},
		{"other prefix", map[string]string{"admission-mode": "audit"}},
	}
	// want[configured][label], in the order of labels above.
	want := map[webhook.Mode][]webhook.Mode{
		E: {E, E, E, A, E, E, E, E, E},
		A: {A, A, E, A, A, A, A, A, A},
		O: {O, O, O, O, O, O, O, O, O},
	}
	for _, configured := range []webhook.Mode{E, A, O} {
		for i, l := range labels {
			if got := webhook.Effective(configured, l.labels); got != want[configured][i] {
				t.Errorf("Effective(%s, %s) = %q, want %q", configured, l.name, got, want[configured][i])
			}
		}
	}
}
