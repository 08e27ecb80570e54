package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/test/e2e/harness"
)

// settings of a round, from the environment (make soak sets them).
type settings struct {
	replicas, rollouts, rotations, kills int
	drain, preStop, grace                time.Duration
}

func settingsFromEnv(t *testing.T) settings {
	s := settings{replicas: 3, rollouts: 3, rotations: 2, kills: 1, drain: 3 * time.Second, preStop: 2 * time.Second, grace: 40 * time.Second}
	ints := map[string]*int{"ROLLOUTS": &s.rollouts, "ROTATIONS": &s.rotations, "KILLS": &s.kills}
	for name, p := range ints {
		if v := os.Getenv("PLATFORM_WEBHOOK_FAULT_" + name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("PLATFORM_WEBHOOK_FAULT_%s=%q: %v", name, v, err)
			}
			*p = n
		}
	}
	durations := map[string]*time.Duration{"DRAIN": &s.drain, "PRESTOP": &s.preStop}
	for name, p := range durations {
		if v := os.Getenv("PLATFORM_WEBHOOK_FAULT_" + name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("PLATFORM_WEBHOOK_FAULT_%s=%q: %v", name, v, err)
			}
			*p = d
		}
	}
	return s
}

const (
	loadNamespace = "fault-load"
	mirror        = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	goodImage     = "nginx:1.27"
	goodMirrored  = mirror + "/docker-hub/library/nginx:1.27"
	badImage      = "gcr.io/distroless/static:nonroot"
	badDenial     = `no pull-through cache rule for "gcr.io"`
)

// load creates pods through the apiserver without pause (server-side dry
// run: the whole admission chain runs, nothing is stored) and counts each
// create that failed, leaked an unmirrored image, or got in where it must be
// denied, by the fault that was going on.
type load struct {
	phase    atomic.Pointer[string]
	mu       sync.Mutex
	total    map[string]int
	failed   map[string][]string
	leaked   map[string][]string
	admitted map[string][]string // wrongly
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(cs kubernetes.Interface, workers int) *load {
	l := &load{total: map[string]int{}, failed: map[string][]string{}, leaked: map[string][]string{},
		admitted: map[string][]string{}, stop: make(chan struct{})}
	l.setPhase("steady")
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(cs, fmt.Sprintf("w%d-%d", w, i), i%4 == 3)
			}
		}()
	}
	return l
}

func (l *load) setPhase(p string) { l.phase.Store(&p) }

func (l *load) one(cs kubernetes.Interface, name string, bad bool) {
	image := goodImage
	if bad {
		image = badImage
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + name, Namespace: loadNamespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := cs.CoreV1().Pods(loadNamespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	phase := *l.phase.Load()
	at := time.Now().Format("15:04:05.000")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total[phase]++
	switch {
	case bad && err == nil:
		l.admitted[phase] = append(l.admitted[phase], at+" "+name)
	case bad && !(apierrors.IsForbidden(err) && strings.Contains(err.Error(), badDenial)):
		l.failed[phase] = append(l.failed[phase], at+" "+name+": "+err.Error())
	case !bad && err != nil:
		l.failed[phase] = append(l.failed[phase], at+" "+name+": "+err.Error())
	case !bad && got.Spec.Containers[0].Image != goodMirrored:
		l.leaked[phase] = append(l.leaked[phase], at+" "+name+": "+got.Spec.Containers[0].Image)
	}
}

func (l *load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// fleet is the replicas behind the Service stand-in.
type fleet struct {
	t        *testing.T
	s        settings
	svc      *service
	config   string
	cert     issued
	replicas []*harness.Replica
	n        int
}

func (f *fleet) start() *harness.Replica {
	f.t.Helper()
	f.n++
	name := fmt.Sprintf("replica-%d", f.n)
	certDir := filepath.Join(cluster.Dir, "replicas", name+"-certs")
	writeSecretVolume(f.t, certDir, f.cert)
	r, err := cluster.StartReplica(name, f.config, certDir, "--shutdown-drain", f.s.drain.String())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := r.WaitReady(60 * time.Second); err != nil {
		f.t.Fatal(err)
	}
	f.svc.add(r.Addr, r.Ready)
	f.replicas = append(f.replicas, r)
	return r
}

// waitEndpoints waits until the Service stand-in has n ready endpoints.
func (f *fleet) waitEndpoints(n int) {
	f.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); f.svc.ready() != n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("%d ready endpoints, want %d", f.svc.ready(), n)
		}
	}
}

// rollout replaces the oldest replica as a Deployment's rolling update
// does (maxSurge 1, maxUnavailable 0): the new pod ready, the old one out of
// the endpoints, its preStop, SIGTERM, SIGKILL at the grace period. The old
// one must exit 0 before the grace period.
func (f *fleet) rollout() {
	f.t.Helper()
	f.start()
	f.waitEndpoints(f.s.replicas + 1)
	old := f.replicas[0]
	f.replicas = f.replicas[1:]
	f.svc.terminate(old.Addr)
	time.Sleep(f.s.preStop)
	if err := old.Signal(syscall.SIGTERM); err != nil {
		f.t.Fatal(err)
	}
	err, exited := old.Wait(f.s.grace - f.s.preStop)
	if !exited {
		old.Signal(syscall.SIGKILL)
		f.t.Errorf("%s: still running at the grace period (%s), killed", old.Name, f.s.grace)
		old.Wait(5 * time.Second)
	} else if err != nil {
		f.t.Errorf("%s exited with %v after SIGTERM; want 0:\n%s", old.Name, err, old.Log())
	}
}

// kill SIGKILLs the oldest replica (OOM, crash): it stays in the endpoints
// until its readiness probe fails; then a replacement is started.
func (f *fleet) kill() {
	f.t.Helper()
	old := f.replicas[0]
	f.replicas = f.replicas[1:]
	if err := old.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	old.Wait(5 * time.Second)
	f.waitEndpoints(f.s.replicas - 1)
	time.Sleep(time.Second)
	f.svc.terminate(old.Addr)
	f.start()
	f.waitEndpoints(f.s.replicas)
}

// rotate renews the serving certificate with a new CA as cert-manager and
// its CA injector do: caBundle old+new, the Secret swapped in every pod's
// volume, every replica serving the new certificate, caBundle new only.
func (f *fleet) rotate(ctx context.Context) {
	f.t.Helper()
	next := issue(f.t, fmt.Sprintf("rotation %d", time.Now().UnixNano()))
	setCABundle(ctx, f.t, append(slices.Clone(f.cert.caPEM), next.caPEM...))
	time.Sleep(time.Second) // the apiserver's webhook informer picks it up
	f.cert = next
	for _, r := range f.replicas {
		writeSecretVolume(f.t, r.CertDir, next)
	}
	for _, r := range f.replicas {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if serial, err := servedSerial(r.Addr); err == nil && serial == next.serial {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("%s does not serve the new certificate 30s after the swap", r.Name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	setCABundle(ctx, f.t, next.caPEM)
	time.Sleep(time.Second)
}

func setCABundle(ctx context.Context, t *testing.T, bundle []byte) {
	t.Helper()
	var ms admissionregistrationv1.MutatingWebhookConfigurationList
	var vs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := cluster.Client.List(ctx, &ms); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.List(ctx, &vs); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for i := range ms.Items {
		for j := range ms.Items[i].Webhooks {
			ms.Items[i].Webhooks[j].ClientConfig.CABundle = bundle
		}
		objs = append(objs, &ms.Items[i])
	}
	for i := range vs.Items {
		for j := range vs.Items[i].Webhooks {
			vs.Items[i].Webhooks[j].ClientConfig.CABundle = bundle
		}
		objs = append(objs, &vs.Items[i])
	}
	for _, o := range objs {
		if err := cluster.Client.Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoAdmissionLost: under steady pod creates, rollouts, certificate
// rotations and kills of webhook replicas. Rollouts and rotations must lose
// nothing; kills are reported with their loss (a killed process cannot
// answer what it had on the wire).
func TestNoAdmissionLost(t *testing.T) {
	ctx := context.Background()
	s := settingsFromEnv(t)
	root := harness.RepoRoot()

	svc, port, err := newService(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	f := &fleet{t: t, s: s, svc: svc, config: filepath.Join(root, "manifests", "webhook", "config.yaml"), cert: issue(t, "initial")}
	defer func() {
		for _, r := range f.replicas {
			r.Stop(s.grace)
		}
	}()
	for range s.replicas {
		f.start()
	}
	f.waitEndpoints(s.replicas)

	// The Service the shipped configurations name, as an ExternalName to the
	// stand-in (see service); the configurations as shipped but for the
	// port, the stand-in's, and the caBundle, cert-manager's CA injector's.
	kubectl(t, `apiVersion: v1
kind: Namespace
metadata: {name: platform-webhook}
---
apiVersion: v1
kind: Namespace
metadata: {name: `+loadNamespace+`}
---
apiVersion: v1
kind: Service
metadata: {name: platform-webhook, namespace: platform-webhook}
spec:
  type: ExternalName
  externalName: localhost
`)
	err = cluster.InstallWebhooksWith(ctx, filepath.Join(root, "manifests", "webhook", "webhooks.yaml"), func(cc *admissionregistrationv1.WebhookClientConfig) {
		p := int32(port)
		cc.Service.Port = &p
		cc.CABundle = f.cert.caPEM
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, errOut, err := cluster.Kubectl(podYAML(badImage), "apply", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(errOut, badDenial) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhooks do not answer through the Service: %v %s", err, errOut)
		}
	}

	rest := *cluster.Env.Config
	rest.QPS, rest.Burst = 1000, 1000
	cs := kubernetes.NewForConfigOrDie(&rest)
	l := startLoad(cs, 3)
	time.Sleep(2 * time.Second)

	started := time.Now()
	for i := range s.rollouts {
		l.setPhase("rollout")
		f.rollout()
		if i < s.rotations {
			l.setPhase("rotation")
			f.rotate(ctx)
		}
	}
	for i := s.rollouts; i < s.rotations; i++ {
		l.setPhase("rotation")
		f.rotate(ctx)
	}
	l.setPhase("steady")
	time.Sleep(time.Second)
	var killLoss []int
	for range s.kills {
		before := len(l.snapshot("kill"))
		l.setPhase("kill")
		f.kill()
		l.setPhase("steady")
		time.Sleep(time.Second)
		killLoss = append(killLoss, len(l.snapshot("kill"))-before)
	}
	l.Stop()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("FAULTS: %d creates in %s (%d during rollouts, %d during rotations, %d during kills); %d rollouts, %d rotations: %d failed, %d leaked, %d wrongly admitted; %d kills: loss per kill %v",
		sum(l.total), time.Since(started).Round(time.Second), l.total["rollout"], l.total["rotation"], l.total["kill"],
		s.rollouts, s.rotations, len(l.failed["rollout"])+len(l.failed["rotation"])+len(l.failed["steady"]),
		count(l.leaked), count(l.admitted), s.kills, killLoss)
	for _, phase := range []string{"steady", "rollout", "rotation"} {
		for _, f := range l.failed[phase] {
			t.Errorf("%s: create failed: %s", phase, f)
		}
	}
	for _, m := range []map[string][]string{l.leaked, l.admitted} {
		for phase, list := range m {
			for _, e := range list {
				t.Errorf("%s: leaked or wrongly admitted: %s", phase, e)
			}
		}
	}
	if l.total["rollout"] == 0 || (s.rotations > 0 && l.total["rotation"] == 0) {
		t.Errorf("the load did not run through the faults: %v", l.total)
	}
}

func (l *load) snapshot(phase string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Concat(l.failed[phase], l.leaked[phase], l.admitted[phase])
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func count(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func podYAML(image string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: ` + loadNamespace + `}
spec:
  containers: [{name: app, image: "` + image + `"}]
`
}

func kubectl(t *testing.T, stdin string) {
	t.Helper()
	if out, errOut, err := cluster.Kubectl(stdin, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
	}
}
