# platform-webhook. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
BIN := bin/platform-webhook
# The release build flags; the Dockerfile uses the same.
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags "-s -w"

.PHONY: help build test test-unit test-e2e controlplane demo fuzz lint image

help: ## List the targets.
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

build: ## Build the static binary into bin/ (same flags as the Dockerfile).
	$(GOBUILD) -o $(BIN) ./cmd/platform-webhook

test: lint build test-unit test-e2e ## Everything CI runs: lint, build, unit and end-to-end tests.

test-unit: ## Unit, handler, review and config tests (fast, no control plane).
	go test -count=1 ./...

controlplane: ## Build etcd, kube-apiserver, kubectl and the CRDs once into the cache (5-7 minutes the first time).
	@test/tools/controlplane.sh >/dev/null

test-e2e: controlplane ## End-to-end tests: a real kube-apiserver and etcd, kubectl output checked word for word.
	KUBEBUILDER_ASSETS="$$(test/tools/controlplane.sh)" PLATFORM_WEBHOOK_CRDS="$$(test/tools/controlplane.sh crds)" \
	  PLATFORM_WEBHOOK_E2E=1 go test -count=1 -timeout 20m ./test/e2e/... ./test/manifests/...

demo: controlplane ## Start a local control plane and the webhook, apply examples/ with kubectl, show what a user sees.
	KUBEBUILDER_ASSETS="$$(test/tools/controlplane.sh)" PLATFORM_WEBHOOK_CRDS="$$(test/tools/controlplane.sh crds)" \
	  go run ./test/demo

lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	go vet ./...

image: ## Build the container image (needs a Docker engine).
	docker build -t platform-webhook:dev .
