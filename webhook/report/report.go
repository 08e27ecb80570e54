// Package report runs every policy over the objects that already exist in a
// cluster, as a CREATE now, and says what enforce would break: the
// `platform-webhook report` command (../shared/DESIGN.md has its contract).
// It reads the cluster read-only, in pages, and reviews through the same
// code as the review command (webhook/review).
package report

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
	"github.com/flux-infra/platform-webhook/webhook/review"
)

// Finding is one policy's finding on one object, or on the pods of one
// workload (a JSON entry of `report -o json`).
type Finding struct {
	Policy    string `json:"policy"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Owner is the workload that controls grouped pods ("Deployment/api"),
	// Pods their count; "" and 0 for any other object.
	Owner string `json:"owner"`
	Pods  int    `json:"pods"`
	// Mode is the policy's effective mode in the namespace (or --mode).
	Mode string `json:"mode"`
	// Result is deny (enforce would refuse it), mutate (enforce would change
	// it, for pods at their next restart) or warn.
	Result  string `json:"result"`
	Message string `json:"message"`
}

// Results of a finding.
const (
	Deny   = "deny"
	Mutate = "mutate"
	Warn   = "warn"
)

// Options narrow what report looks at.
type Options struct {
	// Namespaces to report on; none: all.
	Namespaces []string
	// Mode, when set, is every policy's mode (but off stays off).
	Mode webhook.Mode
	// PageSize is the list page size (500 when 0).
	PageSize int64
	// skipMissing drops namespaces of Namespaces that do not exist (the
	// reporter's changed namespaces may be gone by the time it runs).
	skipMissing bool
}

// Kinds read: what policies review, and what they look up.
var (
	namespaceGVK      = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	podGVK            = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	nodeGVK           = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	replicaSetGVK     = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	jobGVK            = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	mwcGVK            = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfiguration"}
	gatewayGVK        = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}
	virtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	helmReleaseGVK    = schema.GroupVersionKind{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"}
	kustomizationGVK  = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
	// The Gateway API.
	apiGatewayGVK  = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
	httpRouteGVK   = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	grpcRouteGVK   = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	tlsRouteGVK    = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRoute"}
	listenerSetGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "ListenerSet"}
)

// Run reads the cluster through c and returns the findings, sorted by
// namespace, then object, then policy, and the namespaces looked at.
func Run(ctx context.Context, c client.Reader, cfg *config.Config, opts Options) ([]Finding, []string, error) {
	if opts.PageSize == 0 {
		opts.PageSize = 500
	}
	l := lister{c: c, pageSize: opts.PageSize}

	// Context first: every namespace's labels, Gateways and VirtualServices
	// and the Gateway API's Gateways, routes and ListenerSets (gateway-hosts),
	// Nodes and webhook configurations (job-proxy).
	var lookups []review.Document
	var namespaces []string
	nsLabels := map[string]map[string]string{}
	for _, gvk := range []schema.GroupVersionKind{namespaceGVK, gatewayGVK, virtualServiceGVK, apiGatewayGVK,
		httpRouteGVK, grpcRouteGVK, tlsRouteGVK, listenerSetGVK, nodeGVK, mwcGVK} {
		objs, err := l.list(ctx, gvk, "")
		if err != nil {
			return nil, nil, err
		}
		for _, o := range objs {
			lookups = append(lookups, review.Document{Source: "cluster", Object: o})
			if gvk == namespaceGVK {
				nsLabels[o.GetName()] = o.GetLabels()
				namespaces = append(namespaces, o.GetName())
			}
		}
	}
	if len(opts.Namespaces) > 0 {
		namespaces = nil
		for _, ns := range opts.Namespaces {
			if _, ok := nsLabels[ns]; !ok {
				if opts.skipMissing {
					continue
				}
				return nil, nil, fmt.Errorf("namespace %q not found", ns)
			}
			namespaces = append(namespaces, ns)
		}
	}
	sort.Strings(namespaces)

	// Every finding is collected as audit mode says it ("would ..."); the
	// mode reported is the one in force.
	r := review.NewReviewer(cfg, webhook.Audit, lookups)
	var findings []Finding
	for _, ns := range namespaces {
		f, err := inNamespace(ctx, l, r, cfg, opts.Mode, ns, nsLabels[ns])
		if err != nil {
			return nil, nil, err
		}
		findings = append(findings, f...)
	}
	return findings, namespaces, nil
}

// inNamespace reviews the pods (grouped by workload), HelmReleases,
// Kustomizations, VirtualServices and Gateways, and the Gateway API's
// Gateways, routes and ListenerSets of one namespace.
func inNamespace(ctx context.Context, l lister, r *review.Reviewer, cfg *config.Config, mode webhook.Mode, ns string, labels map[string]string) ([]Finding, error) {
	owners, err := l.owners(ctx, ns)
	if err != nil {
		return nil, err
	}
	type group struct {
		f    Finding
		pods int
	}
	groups := map[string]*group{}
	var order []string
	add := func(f Finding) {
		k := strings.Join([]string{f.Kind, f.Name, f.Owner, f.Policy, f.Result, f.Message}, "\x00")
		g, ok := groups[k]
		if !ok {
			g = &group{f: f}
			groups[k] = g
			order = append(order, k)
		}
		g.pods++
	}
	effective := func(policy string) string {
		configured := cfg.ModeOf(policy)
		if mode != "" && configured != webhook.Off {
			return string(mode)
		}
		return string(webhook.Effective(configured, labels))
	}

	for _, gvk := range []schema.GroupVersionKind{podGVK, helmReleaseGVK, kustomizationGVK, virtualServiceGVK, gatewayGVK,
		apiGatewayGVK, httpRouteGVK, grpcRouteGVK, tlsRouteGVK, listenerSetGVK} {
		objs, err := l.list(ctx, gvk, ns)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if o.GetDeletionTimestamp() != nil {
				continue // going away: nothing will restart it
			}
			e, err := r.Review(ctx, review.Document{Source: gvk.Kind + " " + ns + "/" + o.GetName(), Object: o})
			if err != nil {
				return nil, err
			}
			kind, name, owner := o.GetKind(), o.GetName(), ""
			if gvk == podGVK {
				kind, name, owner = owners.of(o)
			}
			for _, w := range e.Findings {
				policy, result, msg := parseLine(w)
				if policy == "" {
					continue // not a policy's line (the warnings' "N more" cut)
				}
				add(Finding{Policy: policy, Kind: kind, Namespace: ns, Name: name, Owner: owner,
					Mode: effective(policy), Result: result, Message: msg})
			}
		}
	}
	out := make([]Finding, 0, len(order))
	for _, k := range order {
		g := groups[k]
		if g.f.Owner != "" {
			g.f.Pods = g.pods
		}
		out = append(out, g.f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind+"/"+a.Name != b.Kind+"/"+b.Name {
			return a.Kind+"/"+a.Name < b.Kind+"/"+b.Name
		}
		return a.Policy < b.Policy
	})
	return out, nil
}

// parseLine splits an audit line "[policy] would deny: msg" (deny),
// "[policy] would ..." of a mutating policy (mutate), or another
// "[policy] ..." line (warn).
func parseLine(line string) (policy, result, msg string) {
	if !strings.HasPrefix(line, "[") {
		return "", "", ""
	}
	end := strings.Index(line, "] ")
	if end < 0 {
		return "", "", ""
	}
	policy, msg = line[1:end], line[end+2:]
	switch {
	case strings.HasPrefix(msg, "would deny: "):
		return policy, Deny, strings.TrimPrefix(msg, "would deny: ")
	case strings.HasPrefix(msg, "would ") && (policy == policies.ImageRewrite || policy == policies.JobProxy):
		return policy, Mutate, msg
	}
	return policy, Warn, msg
}

// lister lists objects in pages.
type lister struct {
	c        client.Reader
	pageSize int64
}

// list returns every object of a kind in ns ("" for all, or cluster
// scoped). A kind the cluster does not serve (Flux or Istio not installed)
// has no objects.
func (l lister) list(ctx context.Context, gvk schema.GroupVersionKind, ns string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	cont := ""
	for {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.Limit(l.pageSize), client.Continue(cont)}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := l.c.List(ctx, list, opts...); err != nil {
			if meta.IsNoMatchError(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("list %s: %w", resourceName(gvk), err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			o.SetGroupVersionKind(gvk)
			out = append(out, o)
		}
		if cont = list.GetContinue(); cont == "" {
			return out, nil
		}
	}
}

func resourceName(gvk schema.GroupVersionKind) string {
	p := strings.ToLower(gvk.Kind) + "s"
	if gvk.Group != "" {
		p += "." + gvk.Group
	}
	return p
}

// ownerIndex knows the controllers of a namespace's ReplicaSets and Jobs, to
// name the workload behind a pod.
type ownerIndex map[string]string // "ReplicaSet/name" -> "Deployment/name"

func (l lister) owners(ctx context.Context, ns string) (ownerIndex, error) {
	idx := ownerIndex{}
	for _, gvk := range []schema.GroupVersionKind{replicaSetGVK, jobGVK} {
		objs, err := l.list(ctx, gvk, ns)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if c := metav1.GetControllerOf(o); c != nil {
				idx[gvk.Kind+"/"+o.GetName()] = c.Kind + "/" + c.Name
			}
		}
	}
	return idx, nil
}

// of names a pod's group: its controller (kind and name) and the workload
// above it (a ReplicaSet's Deployment, a Job's CronJob, or the controller
// itself); a pod without a controller stands alone.
func (idx ownerIndex) of(pod *unstructured.Unstructured) (kind, name, owner string) {
	c := metav1.GetControllerOf(pod)
	if c == nil {
		return "Pod", pod.GetName(), ""
	}
	direct := c.Kind + "/" + c.Name
	if top, ok := idx[direct]; ok {
		return c.Kind, c.Name, top
	}
	return c.Kind, c.Name, direct
}

// NamespaceLabels reads one namespace's labels.
func NamespaceLabels(ctx context.Context, c client.Reader, ns string) (map[string]string, error) {
	o := &unstructured.Unstructured{}
	o.SetGroupVersionKind(namespaceGVK)
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, o); err != nil {
		return nil, err
	}
	return o.GetLabels(), nil
}
