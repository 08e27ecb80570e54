package webhook

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts policy decisions by policy, mode and decision. The request
// counts and latencies come from controller-runtime's webhook metrics.
type Metrics struct {
	decisions *prometheus.CounterVec
	kinds     *prometheus.GaugeVec
}

// NewMetrics registers the decision counter with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "platform_webhook_decisions_total",
		Help: "Policy decisions by policy, mode (enforce, audit) and decision (allow, mutate, deny; warn: only violations an update left as they were). In audit mode the decision is what enforce would have done.",
	}, []string{"policy", "mode", "decision"}),
		kinds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "platform_webhook_watched_kinds",
			Help: "1 for each custom resource kind (by CRD name) the webhook watches now, 0 for one it follows whose CRD is missing or whose informer has not synced.",
		}, []string{"crd"}),
	}
	reg.MustRegister(m.decisions, m.kinds)
	return m
}

func (m *Metrics) watchedKind(crd string, watching bool) {
	if m == nil {
		return
	}
	v := 0.0
	if watching {
		v = 1
	}
	m.kinds.WithLabelValues(crd).Set(v)
}

func (m *Metrics) count(policy string, mode Mode, found bool, decision string) {
	if m == nil {
		return
	}
	if !found {
		decision = "allow"
	}
	m.decisions.WithLabelValues(policy, string(mode), decision).Inc()
}
