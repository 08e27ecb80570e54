// Command istio-injector runs Istio's real sidecar injector outside istiod, for
// end-to-end tests against a bare etcd + kube-apiserver.
//
//	istio-injector render OUTDIR [--hub H] [--tag T] [--revision R] [--revision-tag T]... [--injection-url URL] [--ca-file F]
//	istio-injector serve --port N --cert-dir DIR --kubeconfig FILE --config-dir OUTDIR [--revision R] [--native-sidecars auto|true|false]
//
// render uses istioctl's own code path (operator/pkg/render.GenerateManifest,
// the function behind `istioctl manifest generate`) on the istiod chart that
// is compiled into istio.io/istio/manifests, and writes:
//
//	OUTDIR/config, OUTDIR/values   data of ConfigMap istio-sidecar-injector[-REV]
//	OUTDIR/mesh                    data.mesh of ConfigMap istio[-REV]
//	OUTDIR/mutatingwebhookconfigurations.yaml  istio-sidecar-injector[-REV] and istio-revision-tag-* MWCs
//	OUTDIR/pilot.yaml              every object of the Pilot component, for reference
//
// serve wires pkg/kube/inject.NewWebhook exactly as istiod's
// pilot/pkg/bootstrap/sidecarinjector.go does (file watcher on config/values,
// https mux, revision, multicluster component builder), with the smallest
// model.Environment that NewWebhook and the injection path read.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "render":
		err = renderCmd(os.Args[2:])
	case "serve":
		err = serveCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-injector:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: istio-injector render OUTDIR [flags] | serve --port N --cert-dir DIR --kubeconfig FILE --config-dir DIR [flags]")
	os.Exit(2)
}
