//go:build tools

// Package tools pins the Go-built binaries that test/tools/controlplane.sh
// compiles into the local envtest cache: a real etcd, kube-apiserver,
// kube-controller-manager and kubectl from the pinned Kubernetes release,
// plus controller-gen to render the Flux CRDs. Nothing imports this package; the build tag keeps it out of
// every normal build while `go mod tidy` still records the dependencies.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
