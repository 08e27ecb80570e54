// Command platform-webhook is the platform's admission webhook (serve, the
// default) and its offline twin (review).
package main

import (
	"fmt"
	"os"
)

const usage = `platform-webhook: admission policies for multi-tenant EKS clusters run with Flux and Istio.

Usage:
  platform-webhook [serve] [flags]        run the admission webhook server
  platform-webhook review [flags] PATH... review manifests offline with the same policies
  platform-webhook wrap [flags] -- CMD... run a Job's command in the mesh (what job-proxy injects)

Run "platform-webhook <command> --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches to a subcommand and returns the process exit code.
func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "review" || args[0] == "wrap" || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "review":
		return review(args, os.Stdin, os.Stdout, os.Stderr)
	case "wrap":
		return wrapCmd(args, os.Stderr)
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
