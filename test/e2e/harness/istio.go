package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Istio as the seed installs it (manifests/infrastructure/istio/istiod):
// istiod revision 1-30 with the revision tag "stable", chart 1.30.0, proxy
// images from the ECR mirror. The harness adds the tag "default" (what
// `istioctl tag set default --revision 1-30` makes) so that namespaces
// labelled istio-injection=enabled are injected too, as on most clusters.
const (
	IstioRevision = "1-30"
	IstioTag      = "1.30.0"
)

// IstioRevisionTags are the revision tags whose webhook configurations the
// harness installs.
var IstioRevisionTags = []string{"stable", "default"}

// StartIstio runs Istio's own sidecar injector (test/tools/istio-injector,
// built by controlplane.sh from the istio.io/istio module the CRDs come
// from: pkg/kube/inject's webhook with the istiod chart's templates) and
// installs the MutatingWebhookConfigurations that chart renders for the
// seed's install (istioctl's manifest code, offline), pointed at it. hub is
// the chart's global.hub. istiod's ENABLE_NATIVE_SIDECARS is left at its
// default, auto: the injector reads the cluster's Nodes.
func (c *Cluster) StartIstio(ctx context.Context, hub string) error {
	bin := filepath.Join(c.assets, "istio-injector")
	dir := filepath.Join(c.Dir, "istio")
	port, err := freePort()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/inject", port)
	args := []string{"render", dir, "--hub", hub, "--tag", IstioTag, "--revision", IstioRevision, "--injection-url", url}
	for _, t := range IstioRevisionTags {
		args = append(args, "--revision-tag", t)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("istio-injector render: %v\n%s", err, out)
	}
	certDir := filepath.Join(dir, "certs")
	p, err := startProcess("istio-injector", filepath.Join(c.Dir, "istio-injector.log"), bin, "serve",
		"--port", fmt.Sprint(port),
		"--cert-dir", certDir,
		"--kubeconfig", c.Kubeconfig,
		"--config-dir", dir,
		"--revision", IstioRevision,
	)
	if err != nil {
		return err
	}
	c.istio = p
	// Its certificate is self-signed, trusted below through caBundle; any
	// HTTP answer means it serves.
	insecure := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	err = p.waitUntil("serving", 60*time.Second, 100*time.Millisecond, func() bool {
		resp, err := insecure.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	if err != nil {
		return err
	}
	return c.installConfigs(ctx, filepath.Join(dir, "mutatingwebhookconfigurations.yaml"), func(cc *admissionregistrationv1.WebhookClientConfig) {
		cc.CABundle = ca
	})
}

// IstioLog is what Istio's injector wrote so far.
func (c *Cluster) IstioLog() string { return c.istio.log() }

// AddNode creates a Node whose kubelet reports kubeletVersion (what Istio's
// injector and job-proxy read to decide on native sidecars). Nothing runs
// on it: pods are never scheduled in the harness.
func (c *Cluster) AddNode(ctx context.Context, name, kubeletVersion string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if err := c.Client.Create(ctx, node); err != nil {
		return err
	}
	// kube-controller-manager's node controllers write to a new Node too.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		node.Status.NodeInfo.KubeletVersion = kubeletVersion
		return c.Client.Status().Update(ctx, node)
	})
	if err != nil {
		// A Node without a kubelet version would count as old for Istio.
		_ = c.DeleteNode(ctx, name)
		return fmt.Errorf("set the kubelet version of Node %s: %w", name, err)
	}
	return nil
}

// DeleteNode deletes a Node made by AddNode.
func (c *Cluster) DeleteNode(ctx context.Context, name string) error {
	return c.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// ServerVersion is the apiserver's git version, e.g. "v1.37.2": the kubelet
// version of the harness's own Node.
func (c *Cluster) ServerVersion() (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Env.Config)
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", err
	}
	return v.GitVersion, nil
}
