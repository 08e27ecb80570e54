package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
	"github.com/flux-infra/platform-webhook/webhook/report"
)

// Exit codes of report: a contract for scripts.
const (
	reportClean    = 0
	reportFindings = 1
	reportUsage    = 2 // bad usage, bad config or an unreachable cluster
)

func reportCmd(args []string, stdout, stderr io.Writer) int {
	logf.SetLogger(logr.Discard()) // as review: report speaks through its output
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (default: $KUBECONFIG or ~/.kube/config, or in-cluster)")
	kubeContext := fs.String("context", "", "the kubeconfig context to use (default: its current one)")
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	namespaces := fs.StringArrayP("namespace", "n", nil, "report on this namespace only; repeatable (default: all)")
	mode := fs.String("mode", "", "report every policy that is not off in this mode: enforce or audit (default: each namespace's own)")
	output := fs.StringP("output", "o", "table", "output: table, json or yaml")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: platform-webhook report [--kubeconfig FILE] [--context NAME] [--config FILE] [-n NAMESPACE]... [--mode enforce|audit] [-o table|json|yaml]")
		fmt.Fprintln(stderr, "Runs every policy over the objects of a running cluster, as a CREATE now, and says what enforce would deny or change (read-only).")
		fmt.Fprintln(stderr, "Exit status: 0 nothing found, 1 findings, 2 bad usage, bad config or an unreachable cluster.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return reportClean
		}
		fmt.Fprintf(stderr, "report: %s\n", err)
		return reportUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "report: "+format+"\n", a...)
		return reportUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (namespaces go with -n)", fs.Arg(0))
	}
	if *output != "table" && *output != "json" && *output != "yaml" {
		return fail("--output must be table, json or yaml (found %q)", *output)
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
	restCfg, err := reportRESTConfig(*kubeconfig, *kubeContext)
	if err != nil {
		return fail("%s", err)
	}
	scheme, err := config.Scheme()
	if err != nil {
		return fail("%s", err)
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail("cannot read the cluster at %s: %s", restCfg.Host, reason(err))
	}
	findings, nss, err := report.Run(context.Background(), c, cfg, report.Options{Namespaces: *namespaces, Mode: override})
	if err != nil {
		return fail("cannot read the cluster at %s: %s", restCfg.Host, reason(err))
	}
	switch *output {
	case "json":
		err = report.WriteJSON(stdout, findings)
	case "yaml":
		err = report.WriteYAML(stdout, findings)
	default:
		modes, merr := namespaceModes(context.Background(), c, cfg, override, nss)
		if merr != nil {
			return fail("cannot read the cluster at %s: %s", restCfg.Host, reason(merr))
		}
		err = report.WriteTable(stdout, findings, nss, modes)
	}
	if err != nil {
		return fail("write output: %s", err)
	}
	if len(findings) > 0 {
		return reportFindings
	}
	return reportClean
}

// namespaceModes is each namespace's mode for the summary lines: --mode, or
// the configured default with the namespace's label over it.
func namespaceModes(ctx context.Context, c client.Reader, cfg *config.Config, override webhook.Mode, nss []string) (map[string]string, error) {
	modes := map[string]string{}
	for _, ns := range nss {
		if override != "" {
			modes[ns] = string(override)
			continue
		}
		labels, err := report.NamespaceLabels(ctx, c, ns)
		if err != nil {
			return nil, err
		}
		modes[ns] = string(webhook.Effective(cfg.Mode, labels))
	}
	return modes, nil
}

// reportRESTConfig is the cluster to read: --kubeconfig (or $KUBECONFIG,
// ~/.kube/config) with --context, else in-cluster.
func reportRESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" && kubeContext == "" {
		return restConfig("")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, fmt.Errorf("no cluster in the kubeconfig (%s)", rules.GetDefaultFilename())
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", err)
	}
	return c, nil
}

// reason is the innermost useful part of a client error: what the
// connection said, not the whole URL again.
func reason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
