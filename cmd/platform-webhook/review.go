package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/flux-infra/platform-webhook/webhook"
	"github.com/flux-infra/platform-webhook/webhook/config"
	reviewpkg "github.com/flux-infra/platform-webhook/webhook/review"
)

// Exit codes of review: a contract for CI scripts.
const (
	exitAllowed = 0
	exitDenied  = 1
	exitUsage   = 2 // bad usage, unreadable input or bad config
)

func review(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("review", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	contexts := fs.StringArray("context", nil, "file or folder of objects that already exist in the cluster (Namespaces with their labels, Gateways, VirtualServices, Nodes, MutatingWebhookConfigurations); repeatable")
	mode := fs.String("mode", "", "run every policy that is not off in this mode: enforce or audit")
	output := fs.StringP("output", "o", "yaml", "output: yaml (objects on stdout, denials and warnings on stderr) or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: platform-webhook review [--config FILE] [--context PATH]... [--mode enforce|audit] [-o yaml|json] PATH...")
		fmt.Fprintln(stderr, "Reviews each object as a CREATE in its namespace, exactly as the server would. PATH may be a file, a folder or - for standard input.")
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
	if fs.NArg() == 0 {
		return fail("no PATH given (a file, a folder or - for standard input)")
	}
	if *output != "yaml" && *output != "json" {
		return fail("--output must be yaml or json (found %q)", *output)
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
	docs, skipped, err := reviewpkg.Read(fs.Args(), stdin)
	if err != nil {
		return fail("%s", err)
	}
	for _, f := range skipped {
		fmt.Fprintf(stderr, "review: skipped %s: not a Kubernetes manifest (its first document has no kind)\n", f)
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
	if *output == "json" {
		err = reviewpkg.WriteJSON(stdout, entries)
	} else {
		err = reviewpkg.WriteYAML(stdout, stderr, entries)
	}
	if err != nil {
		return fail("write output: %s", err)
	}
	return code
}
