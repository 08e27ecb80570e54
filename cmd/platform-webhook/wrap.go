package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/flux-infra/platform-webhook/cmd/platform-webhook/internal/wrap"
)

// exitWrapUsage is wrap's exit code for bad flags.
const exitWrapUsage = 2

// wrapCmd is `platform-webhook wrap`, what job-proxy puts in front of a Job
// container's command (see internal/wrap), and `wrap --install FILE`, what
// its init container runs to copy the binary into the pod.
func wrapCmd(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("wrap", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetInterspersed(false) // the command's own flags are not ours
	statusPort := fs.Int("status-port", wrap.DefaultStatusPort, "istio-proxy's status port: GET /healthz/ready until 200")
	adminPort := fs.Int("admin-port", wrap.DefaultAdminPort, "pilot-agent's admin port: POST /quitquitquit after the command exits")
	timeout := fs.Duration("timeout", wrap.DefaultTimeout, "how long to wait for istio-proxy to be ready; after it, exit 1 without running the command")
	restart := fs.String("restart-policy", "Never", "the container's restart policy, Never, OnFailure or Always: the proxy is kept when the container will be restarted")
	install := fs.String("install", "", "copy this binary to `FILE` (mode 0755) and exit: what the job-proxy init container runs")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: platform-webhook wrap [flags] -- COMMAND [ARGS...]")
		fmt.Fprintln(stderr, "       platform-webhook wrap --install FILE")
		fmt.Fprintln(stderr, "Waits until istio-proxy is ready, runs COMMAND (forwarding signals), then stops istio-proxy,")
		fmt.Fprintln(stderr, "and exits with COMMAND's exit code (128+N when signal N killed it).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "[job-proxy] wrap: %s\n", err)
		return exitWrapUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "[job-proxy] wrap: "+format+"\n", a...)
		return exitWrapUsage
	}
	if *install != "" {
		if fs.NArg() > 0 {
			return fail("--install takes no command")
		}
		if err := wrap.Install(*install); err != nil {
			fmt.Fprintf(stderr, "[job-proxy] wrap: install %s: %s\n", *install, err)
			return 1
		}
		return 0
	}
	switch {
	case fs.NArg() == 0:
		return fail("no command given (platform-webhook wrap [flags] -- COMMAND [ARGS...])")
	case *restart != "Never" && *restart != "OnFailure" && *restart != "Always":
		return fail("--restart-policy must be Never, OnFailure or Always (found %q)", *restart)
	case *timeout <= 0:
		return fail("--timeout must be positive (found %s)", *timeout)
	case !validPort(*statusPort):
		return fail("--status-port must be a port, 1 to 65535 (found %d)", *statusPort)
	case !validPort(*adminPort):
		return fail("--admin-port must be a port, 1 to 65535 (found %d)", *adminPort)
	}
	return wrap.Run(wrap.Options{
		Host:          "localhost",
		StatusPort:    *statusPort,
		AdminPort:     *adminPort,
		Timeout:       *timeout,
		RestartPolicy: *restart,
		Stderr:        stderr,
	}, fs.Args())
}

func validPort(p int) bool { return p > 0 && p < 65536 }
