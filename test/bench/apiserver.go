package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// setUpCluster creates the corpus's namespaces and the Gateways of hosts
// authorized hosts (a superset of fewer: existing ones are updated).
func setUpCluster(ctx context.Context, c client.Client, hosts int) error {
	for _, ns := range corpus.Namespaces() {
		if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
	}
	if err := setGateways(ctx, c, hosts); err != nil {
		return err
	}
	if err := createServiceAccounts(ctx, c); err != nil {
		return err
	}
	return dryRunCorpus(ctx, c)
}

// createServiceAccounts creates the ServiceAccounts the corpus's pods run
// as: the harness's apiserver runs the ServiceAccount admission plugin (its
// controller manager makes only "default"), which refuses a pod whose
// ServiceAccount does not exist.
func createServiceAccounts(ctx context.Context, c client.Client) error {
	for _, cs := range corpus.Cases() {
		if cs.Kind != "Pod" {
			continue
		}
		var pod corev1.Pod
		if err := json.Unmarshal(cs.Object(), &pod); err != nil {
			return fmt.Errorf("%s: %w", cs.Name, err)
		}
		if pod.Spec.ServiceAccountName == "" {
			continue
		}
		sa := &corev1.ServiceAccount{}
		sa.Namespace, sa.Name = pod.Namespace, pod.Spec.ServiceAccountName
		if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("service account %s/%s: %w", sa.Namespace, sa.Name, err)
		}
	}
	return nil
}

// dryRunCorpus creates every object of the corpus with dryRun=All: the
// apiserver validates them as it would a real create (no webhook is
// installed yet), so the corpus holds only objects a cluster accepts.
func dryRunCorpus(ctx context.Context, c client.Client) error {
	for _, cs := range corpus.Cases() {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(cs.Object()); err != nil {
			return fmt.Errorf("%s: %w", cs.Name, err)
		}
		if u.GetName() == "" && u.GetGenerateName() == "" {
			return fmt.Errorf("%s: no name", cs.Name)
		}
		if err := c.Create(ctx, u, client.DryRunAll); err != nil {
			return fmt.Errorf("the apiserver refuses the corpus's %s: %w", cs.Name, err)
		}
	}
	return nil
}

func setGateways(ctx context.Context, c client.Client, hosts int) error {
	for _, gw := range corpus.Gateways(hosts) {
		err := c.Create(ctx, gw)
		if apierrors.IsAlreadyExists(err) {
			existing := gw.DeepCopy()
			if err = c.Get(ctx, client.ObjectKeyFromObject(gw), existing); err == nil {
				gw.ResourceVersion = existing.ResourceVersion
				err = c.Update(ctx, gw)
			}
		}
		if err != nil {
			return fmt.Errorf("gateway %s: %w", gw.Name, err)
		}
	}
	return nil
}

// Latencies are the durations of sequential pod creates.
type Latencies struct {
	N                  int
	P50, P99, Max, Avg time.Duration
}

func latencies(d []time.Duration) Latencies {
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	l := Latencies{N: len(d), P50: percentile(d, 50), P99: percentile(d, 99)}
	if len(d) > 0 {
		l.Max, l.Avg = d[len(d)-1], sum/time.Duration(len(d))
	}
	return l
}

// WebhookHistogram is the apiserver's
// apiserver_admission_webhook_admission_duration_seconds for one webhook.
type WebhookHistogram struct {
	Name, Type string // "image-rewrite.flux-infra.io", "admit" or "validating"
	Buckets    []Bucket
	Count      float64
	Sum        float64 // seconds
}

// Bucket is a cumulative histogram bucket: Count observations at most LE seconds.
type Bucket struct {
	LE    string
	Count float64
}

// ApiserverResult is the pod create latency through the apiserver without
// and with the webhook, and the apiserver's own measure of the webhook calls.
type ApiserverResult struct {
	Without, With Latencies
	Histograms    []WebhookHistogram
}

// createPods creates n copies of pod one after the other and returns how
// long each create took.
func createPods(ctx context.Context, c client.Client, pod *corev1.Pod, n int) ([]time.Duration, error) {
	var d []time.Duration
	for range n {
		p := pod.DeepCopy()
		start := time.Now()
		if err := c.Create(ctx, p); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// throughApiserver measures pod creates (the corpus's 9 KB pod, generated
// names) through the real apiserver, before the webhook configurations are
// installed and after, with platform-webhook (binary) running as the e2e
// tests run it (pinned to cpu when cpu >= 0); then reads the apiserver's
// webhook admission histogram.
func throughApiserver(ctx context.Context, cl *harness.Cluster, binary string, cpu, n int) (ApiserverResult, error) {
	var res ApiserverResult
	pod := &corev1.Pod{}
	if err := json.Unmarshal(corpus.Get("pod-9k-rewrite").Object(), pod); err != nil {
		return res, err
	}
	if _, err := createPods(ctx, cl.Client, pod, max(5, n/10)); err != nil { // warm-up
		return res, fmt.Errorf("create pods: %w", err)
	}
	d, err := createPods(ctx, cl.Client, pod, n)
	if err != nil {
		return res, fmt.Errorf("create pods: %w", err)
	}
	res.Without = latencies(d)

	root := harness.RepoRoot()
	cl.Binary = binary
	if err := cl.StartWebhook(filepath.Join(root, "manifests", "webhook", "config.yaml")); err != nil {
		return res, err
	}
	if cpu >= 0 { // as in the load test: the webhook on a CPU of its own
		pid, err := childRunning(binary)
		if err != nil {
			return res, err
		}
		if err := pin(pid, cpu); err != nil {
			return res, err
		}
	}
	if err := cl.InstallWebhooks(ctx, filepath.Join(root, "manifests", "webhook", "webhooks.yaml")); err != nil {
		return res, fmt.Errorf("install webhooks: %w", err)
	}
	// The apiserver reads webhook configurations from an informer: wait
	// until a pod comes back mirrored.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := pod.DeepCopy()
		if err := cl.Client.Create(ctx, p); err != nil {
			return res, fmt.Errorf("create pod: %w", err)
		}
		if strings.HasPrefix(p.Spec.Containers[0].Image, corpus.Mirror+"/") {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("pods are not mirrored 30s after the webhooks were installed; webhook log:\n%s", cl.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := createPods(ctx, cl.Client, pod, max(5, n/10)); err != nil { // warm-up
		return res, fmt.Errorf("create pods: %w", err)
	}
	if d, err = createPods(ctx, cl.Client, pod, n); err != nil {
		return res, fmt.Errorf("create pods: %w", err)
	}
	res.With = latencies(d)

	cs, err := kubernetes.NewForConfig(cl.Env.Config)
	if err != nil {
		return res, err
	}
	metrics, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return res, fmt.Errorf("apiserver /metrics: %w", err)
	}
	res.Histograms = parseWebhookHistograms(string(metrics), "operation", "CREATE")
	return res, nil
}

const admissionMetric = "apiserver_admission_webhook_admission_duration_seconds"

var metricLine = regexp.MustCompile(`^(\w+)\{([^}]*)\} (\S+)$`)

// parseWebhookHistograms reads apiserver_admission_webhook_admission_duration_seconds
// from Prometheus text output, one histogram per webhook name and type,
// keeping the series whose label key has value (operation="CREATE"),
// rejected or not, summed. Sorted by type (admit first), then name.
func parseWebhookHistograms(text, key, value string) []WebhookHistogram {
	byKey := map[string]*WebhookHistogram{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil || !strings.HasPrefix(m[1], admissionMetric) {
			continue
		}
		labels := parseLabels(m[2])
		if labels[key] != value {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		k := labels["type"] + "/" + labels["name"]
		h := byKey[k]
		if h == nil {
			h = &WebhookHistogram{Name: labels["name"], Type: labels["type"]}
			byKey[k] = h
			order = append(order, k)
		}
		switch m[1] {
		case admissionMetric + "_bucket":
			i := slices.IndexFunc(h.Buckets, func(b Bucket) bool { return b.LE == labels["le"] })
			if i < 0 {
				h.Buckets = append(h.Buckets, Bucket{LE: labels["le"]})
				i = len(h.Buckets) - 1
			}
			h.Buckets[i].Count += v
		case admissionMetric + "_sum":
			h.Sum += v
		case admissionMetric + "_count":
			h.Count += v
		}
	}
	slices.Sort(order)
	var out []WebhookHistogram
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// parseLabels reads `a="x",b="y"` (values without commas or escaped quotes,
// as these metrics have).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}
