package webhook

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts policy decisions by policy, mode and decision. The request
// counts and latencies come from controller-runtime's webhook metrics.
type Metrics struct {
	decisions *prometheus.CounterVec
}

// NewMetrics registers the decision counter with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "platform_webhook_decisions_total",
		Help: "Policy decisions by policy, mode (enforce, audit) and decision (allow, mutate, deny; warn: only violations an update left as they were). In audit mode the decision is what enforce would have done.",
	}, []string{"policy", "mode", "decision"})}
	reg.MustRegister(m.decisions)
	return m
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
