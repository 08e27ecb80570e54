// Command platform-webhook is the platform's admission webhook (serve, the
// default) and its offline twin (review).
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

const usage = `platform-webhook: admission policies for multi-tenant EKS clusters run with Flux and Istio.

Usage:
  platform-webhook [serve] [flags]        run the admission webhook server
  platform-webhook review [flags] PATH... review manifests offline with the same policies
  platform-webhook report [flags]         what enforce would break among a cluster's objects (read-only)
  platform-webhook reporter [flags]       keep report's findings in the cluster as OpenReports
  platform-webhook wrap [flags] -- CMD... run a Job's command in the mesh (what job-proxy injects)
  platform-webhook pull-through-rules     the ECR pull-through cache rules the config declares, or --check AWS's

Run "platform-webhook <command> --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// commands are the words run knows; with none, or flags only, it serves.
var commands = []string{"serve", "review", "report", "reporter", "wrap", "pull-through-rules", "help"}

// run dispatches to a subcommand and returns the process exit code.
func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && (slices.Contains(commands, args[0]) || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// A misspelt command must not start a server.
		fmt.Fprintf(os.Stderr, "platform-webhook: unknown command %q (commands: %s)\n\n%s", args[0], strings.Join(commands, ", "), usage)
		return 2
	}
	switch cmd {
	case "review":
		return review(args, os.Stdin, os.Stdout, os.Stderr)
	case "report":
		return reportCmd(args, os.Stdout, os.Stderr)
	case "reporter":
		if err := reporter(args); err != nil {
			fmt.Fprintln(os.Stderr, "platform-webhook reporter:", err)
			return 1
		}
		return 0
	case "wrap":
		return wrapCmd(args, os.Stderr)
	case "pull-through-rules":
		return pullThroughRulesCmd(args, os.Stdin, os.Stdout, os.Stderr)
	case "serve":
		if err := serve(args); err != nil {
			fmt.Fprintln(os.Stderr, "platform-webhook:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprint(os.Stdout, usage)
		return 0
	}
}
