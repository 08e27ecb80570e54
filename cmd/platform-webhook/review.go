package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
	reviewpkg "github.com/flux-infra/platform-webhook/webhook/review"
	"github.com/flux-infra/platform-webhook/webhook/review/charts"
)

// chartTransport carries review's chart requests when set: the tests reach
// their loopback registries under the names the repositories use.
var chartTransport *http.Transport

// Exit codes of review: a contract for CI scripts.
const (
	exitAllowed = 0
	exitDenied  = 1
	exitUsage   = 2 // bad usage, unreadable input or bad config
)

func review(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The policies log through controller-runtime, which says on stderr,
	// with a stack trace, when no logger was set within 30 s: review
	// speaks through its output alone.
	logf.SetLogger(logr.Discard())
	fs := pflag.NewFlagSet("review", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	contexts := fs.StringArray("context", nil, "file or folder of objects that already exist in the cluster (Namespaces with their labels, Gateways, VirtualServices, Nodes, MutatingWebhookConfigurations); repeatable")
	mode := fs.String("mode", "", "run every policy that is not off in this mode: enforce or audit")
	output := fs.StringP("output", "o", "yaml", "output: yaml (objects on stdout, denials and warnings on stderr), json, or github (GitHub Actions annotations)")
	fluxDir := fs.String("flux", "", "follow the Flux repository from this folder (what flux bootstrap --path points at), as kustomize-controller applies it")
	repoRoot := fs.String("repo-root", "", "with --flux: the repository's top folder, which spec.path is relative to (default: the git top level of the --flux folder)")
	vars := fs.StringArray("vars", nil, "with --flux: a ConfigMap or Secret manifest for postBuild.substituteFrom (or a HelmRelease's valuesFrom) that the cluster holds but the repository does not; repeatable")
	noCharts := fs.Bool("no-charts", false, "with --flux: review HelmReleases as objects only, without fetching and rendering their charts")
	chartCache := fs.String("chart-cache", "", "with --flux: the folder that keeps fetched charts by URL, version and digest, so a second run needs no network (default: platform-webhook/charts in the user's cache folder, else a temporary folder)")
	skipCharts := fs.StringArray("skip-chart", nil, "with --flux: a HelmRelease (NAMESPACE/NAME) reviewed as an object only, its chart not fetched (one CI cannot reach); repeatable")
	kubeVersion := fs.String("kube-version", "", "with --flux: the Kubernetes version charts are rendered for (.Capabilities.KubeVersion; default "+charts.DefaultKubeVersion+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: platform-webhook review [--config FILE] [--context PATH]... [--mode enforce|audit] [-o yaml|json|github] PATH...")
		fmt.Fprintln(stderr, "       platform-webhook review --flux DIR [--repo-root DIR] [--vars FILE]... [--no-charts | --chart-cache DIR --kube-version V --skip-chart NS/NAME...] [--config FILE] [--context PATH]... [--mode enforce|audit] [-o yaml|json|github]")
		fmt.Fprintln(stderr, "Reviews each object as a CREATE in its namespace, exactly as the server would. PATH may be a file, a folder (built with kustomize when it holds a kustomization.yaml) or - for standard input.")
		fmt.Fprintln(stderr, "Exit status: 0 all allowed, 1 some denied, 2 bad usage, unreadable input or bad config.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitAllowed
		}
		// With ContinueOnError pflag prints nothing: say what was wrong.
		fmt.Fprintf(stderr, "review: %s\n", err)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "review: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case *fluxDir == "" && fs.NArg() == 0:
		return fail("no PATH given (a file, a folder or - for standard input), and no --flux DIR")
	case *fluxDir != "" && fs.NArg() > 0:
		return fail("--flux reviews what Flux applies from its folder: give no PATH with it (found %q)", fs.Args())
	case *fluxDir == "" && (*repoRoot != "" || len(*vars) > 0):
		return fail("--repo-root and --vars go with --flux")
	case *fluxDir == "" && (*noCharts || *chartCache != "" || *kubeVersion != "" || len(*skipCharts) > 0):
		return fail("--no-charts, --chart-cache, --kube-version and --skip-chart go with --flux")
	case *noCharts && (*chartCache != "" || *kubeVersion != "" || len(*skipCharts) > 0):
		return fail("--chart-cache, --kube-version and --skip-chart render charts: not with --no-charts")
	}
	if *output != "yaml" && *output != "json" && *output != "github" {
		return fail("--output must be yaml, json or github (found %q)", *output)
	}
	var override webhook.Mode
	if *mode != "" {
		if *mode != string(webhook.Enforce) && *mode != string(webhook.Audit) {
			return fail("--mode must be enforce or audit (found %q)", *mode)
		}
		override = webhook.Mode(*mode)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail("%s", err)
	}
	ctxDocs, _, err := reviewpkg.Read(*contexts, stdin)
	if err != nil {
		return fail("%s", err)
	}
	var docs []reviewpkg.Document
	if *fluxDir != "" {
		opts := reviewpkg.FluxOptions{Dir: *fluxDir, RepoRoot: *repoRoot, Vars: *vars}
		if !*noCharts {
			opts.Charts = &reviewpkg.ChartOptions{CacheDir: *chartCache, KubeVersion: *kubeVersion, Skip: *skipCharts, Transport: chartTransport}
		}
		build, err := reviewpkg.FollowFlux(context.Background(), opts)
		if err != nil {
			return fail("%s", err)
		}
		for _, k := range build.NotFollowed {
			fmt.Fprintf(stderr, "review: not followed: %s\n", k)
		}
		docs = build.Docs
	} else {
		var skipped []reviewpkg.Skipped
		docs, skipped, err = reviewpkg.Read(fs.Args(), stdin)
		if err != nil {
			return fail("%s", err)
		}
		for _, s := range skipped {
			fmt.Fprintf(stderr, "review: skipped %s: %s\n", s.File, s.Why)
		}
	}

	r := reviewpkg.NewReviewer(cfg, override, ctxDocs)
	// Namespaces among the inputs are applied before what is in them, so
	// their labels count too.
	r.Learn(docs)
	entries := make([]reviewpkg.Entry, 0, len(docs))
	code := exitAllowed
	for _, d := range docs {
		e, err := r.Review(context.Background(), d)
		if err != nil {
			return fail("%s", err)
		}
		if !e.Allowed {
			code = exitDenied
		}
		entries = append(entries, e)
	}
	switch *output {
	case "json":
		err = reviewpkg.WriteJSON(stdout, entries)
	case "github":
		err = reviewpkg.WriteGitHub(stdout, entries)
	default:
		err = reviewpkg.WriteYAML(stdout, stderr, entries)
	}
	if err != nil {
		return fail("write output: %s", err)
	}
	return code
}
