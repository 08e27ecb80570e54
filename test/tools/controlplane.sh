#!/usr/bin/env bash
# Builds, once, a real local Kubernetes control plane for envtest (etcd,
# kube-apiserver, kubectl, all from source at the versions pinned in
# versions.env / go.mod) plus the Flux, Istio and cert-manager CRDs, into a
# per-version cache folder outside the repo; later runs reuse it instantly.
#
# Usage:
#   export KUBEBUILDER_ASSETS="$(test/tools/controlplane.sh)"   # bin folder
#   CRDS="$(test/tools/controlplane.sh crds)"                   # CRD folder
#
# Stdout carries exactly one line, the requested path; progress goes to stderr.
# Cache root: $PLATFORM_WEBHOOK_CACHE, else $XDG_CACHE_HOME/platform-webhook,
# else $HOME/.cache/platform-webhook. See README.md next to this file.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${TOOLS_DIR}/versions.env"

# Bump when the way artifacts are built changes, to force a rebuild.
RECIPE=1

PROG="controlplane.sh"
log() { printf '%s: %s\n' "${PROG}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	cat >&2 <<EOF
usage: ${PROG} [bin|crds]
  bin   (default) ensure etcd, kube-apiserver, kube-controller-manager,
        kubectl, istio-injector and the CRDs are built;
        print the bin folder (the KUBEBUILDER_ASSETS value)
  crds  ensure the CRDs are generated; print the CRD folder
EOF
}

MODE="${1:-bin}"
case "${MODE}" in
bin | crds) ;;
-h | --help | help)
	usage
	exit 0
	;;
*)
	usage
	exit 2
	;;
esac
[[ $# -le 1 ]] || {
	usage
	exit 2
}

CACHE_ROOT="${PLATFORM_WEBHOOK_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME, XDG_CACHE_HOME or PLATFORM_WEBHOOK_CACHE}/.cache}/platform-webhook}"
CACHE="${CACHE_ROOT}/k8s-${KUBERNETES_VERSION}"
BIN_DIR="${CACHE}/bin"
CRD_DIR="${CACHE}/crds"
TOOL_DIR="${CACHE}/tools"
STAMP_DIR="${CACHE}/.stamps"

# k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y.
STAGING_VERSION="v0.${KUBERNETES_VERSION#v1.}"

# --- pins in versions.env must agree with go.mod -----------------------------

check_pins() {
	local gomod="${TOOLS_DIR}/go.mod" mod ver bad
	for pair in \
		"k8s.io/kubernetes ${KUBERNETES_VERSION}" \
		"go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" \
		"sigs.k8s.io/controller-tools ${CONTROLLER_TOOLS_VERSION}"; do
		mod="${pair% *}"
		ver="${pair#* }"
		awk -v m="${mod}" -v v="${ver}" '
			$1 == "require" && $2 == m && $3 == v { ok = 1 }
			$1 == m && $2 == v { ok = 1 }
			END { exit !ok }' "${gomod}" ||
			die "versions.env pins ${mod} ${ver} but ${gomod} does not; keep them in step"
	done
	bad="$(awk -v v="${STAGING_VERSION}" '
		$1 ~ /^k8s\.io\// && $2 == "=>" && $4 != v { print $1 " => " $3 " " $4 }' "${gomod}")"
	[[ -z "${bad}" ]] ||
		die "go.mod staging replaces must all be ${STAGING_VERSION} for kubernetes ${KUBERNETES_VERSION}: ${bad}"
}
check_pins
grep -qE "^[[:space:]]*istio\.io/istio ${ISTIO_VERSION}([[:space:]]|$)" "${TOOLS_DIR}/istio-injector/go.mod" ||
	die "versions.env pins istio.io/istio ${ISTIO_VERSION} but ${TOOLS_DIR}/istio-injector/go.mod does not; keep them in step"
# The reporter's and gateway-hosts' Go types come from the webhook's own go.mod: the CRDs must match them.
grep -qE "^[[:space:]]*sigs\.k8s\.io/gateway-api ${GATEWAY_API_VERSION}([[:space:]]|$)" "${TOOLS_DIR}/../../go.mod" ||
	die "versions.env pins sigs.k8s.io/gateway-api ${GATEWAY_API_VERSION} but go.mod does not; keep them in step"
grep -qE "^[[:space:]]*github\.com/openreports/reports-api ${OPENREPORTS_VERSION}([[:space:]]|$)" "${TOOLS_DIR}/../../go.mod" ||
	die "versions.env pins github.com/openreports/reports-api ${OPENREPORTS_VERSION} but go.mod does not; keep them in step"

# --- stamps: an artifact is complete when its stamp holds the expected recipe --

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
GOMOD_HASH="$(hash_of "${TOOLS_DIR}/go.mod" "${TOOLS_DIR}/go.sum")"
# The injector is our own code too: any change to it rebuilds it.
INJECTOR_DIR="${TOOLS_DIR}/istio-injector"
INJECTOR_HASH="$(hash_of "${INJECTOR_DIR}/go.mod" "${INJECTOR_DIR}/go.sum" "${INJECTOR_DIR}"/*.go)"

recipe_for() {
	case "$1" in
	etcd) echo "r${RECIPE} go.etcd.io/etcd/server/v3@${ETCD_VERSION} gomod=${GOMOD_HASH}" ;;
	kube-apiserver | kube-controller-manager | kubectl) echo "r${RECIPE} k8s.io/kubernetes@${KUBERNETES_VERSION} gomod=${GOMOD_HASH}" ;;
	istio-injector) echo "r${RECIPE} istio.io/istio@${ISTIO_VERSION} src=${INJECTOR_HASH}" ;;
	controller-gen) echo "r${RECIPE} sigs.k8s.io/controller-tools@${CONTROLLER_TOOLS_VERSION} gomod=${GOMOD_HASH}" ;;
	crds)
		echo "r${RECIPE} controller-tools@${CONTROLLER_TOOLS_VERSION}" \
			"helm-controller/api@${FLUX_HELM_API_VERSION}" \
			"kustomize-controller/api@${FLUX_KUSTOMIZE_API_VERSION}" \
			"source-controller/api@${FLUX_SOURCE_API_VERSION}" \
			"istio@${ISTIO_VERSION} cert-manager@${CERT_MANAGER_VERSION}" \
			"openreports@${OPENREPORTS_VERSION}" \
			"prometheus-operator/monitoring@${PROMETHEUS_OPERATOR_API_VERSION}" \
			"gateway-api@${GATEWAY_API_VERSION}"
		;;
	*) die "unknown artifact $1" ;;
	esac
}

artifact_path() {
	case "$1" in
	etcd | kube-apiserver | kube-controller-manager | kubectl | istio-injector) echo "${BIN_DIR}/$1" ;;
	controller-gen) echo "${TOOL_DIR}/controller-gen" ;;
	crds) echo "${CRD_DIR}" ;;
	esac
}

is_done() {
	local path stamp
	path="$(artifact_path "$1")"
	stamp="${STAMP_DIR}/$1"
	[[ -e "${path}" && -f "${stamp}" ]] && [[ "$(<"${stamp}")" == "$(recipe_for "$1")" ]]
}

write_stamp() {
	local tmp="${STAMP_DIR}/.$1.tmp.$$"
	recipe_for "$1" >"${tmp}"
	mv -f "${tmp}" "${STAMP_DIR}/$1"
}

case "${MODE}" in
bin) WANT=(etcd kube-apiserver kube-controller-manager kubectl istio-injector crds) ;;
crds) WANT=(crds) ;;
esac

print_result() {
	case "${MODE}" in
	bin) printf '%s\n' "${BIN_DIR}" ;;
	crds) printf '%s\n' "${CRD_DIR}" ;;
	esac
}

all_done() {
	local a
	for a in "${WANT[@]}"; do
		is_done "${a}" || return 1
	done
}

# Fast path: everything present, no lock, no go invocation.
if all_done; then
	print_result
	exit 0
fi

# --- slow path: build what is missing, under a lock --------------------------

command -v go >/dev/null 2>&1 || die "go not found on PATH (kubernetes ${KUBERNETES_VERSION} needs Go >= 1.26)"

mkdir -p "${BIN_DIR}" "${TOOL_DIR}" "${STAMP_DIR}"

# Temp files/dirs to remove on exit, and the long build running in the
# background (its own process group), so that Ctrl-C or a kill stops it at
# once instead of after the current `go build` finishes.
CLEANUP=()
CHILD=""
cleanup() {
	local p
	if [[ -n "${CHILD}" ]]; then
		kill -TERM -- "-${CHILD}" 2>/dev/null || kill -TERM "${CHILD}" 2>/dev/null || true
		wait "${CHILD}" 2>/dev/null || true
	fi
	for p in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
		rm -rf -- "${p}"
	done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

SCRATCH="$(mktemp -d)"
CLEANUP+=("${SCRATCH}")

exec 9>"${CACHE}/.lock"
if command -v flock >/dev/null 2>&1; then
	if ! flock -n 9; then
		log "another ${PROG} is building in ${CACHE}; waiting for it..."
		flock 9
	fi
else
	log "warning: flock not found (Debian: util-linux); concurrent runs are not serialised"
fi

# Go environment for every build: the tools module alone (no go.work), its
# go.sum as is, a static host binary whatever GOOS/GOARCH the caller had.
GO_ENV=(env -C "${TOOLS_DIR}" -u GOOS -u GOARCH GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0)
go_tools() {
	"${GO_ENV[@]}" go "$@"
}
# The injector is its own module (istio.io/istio pins other k8s.io versions).
INJECTOR_ENV=(env -C "${INJECTOR_DIR}" -u GOOS -u GOARCH GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0)

# Run a go command in the background in its own process group and wait for it;
# `wait` returns as soon as a signal arrives, and cleanup() stops the group.
go_tools_bg() {
	local rc=0 envv=("${GO_ENV[@]}")
	[[ "${BUILD_IN:-}" == injector ]] && envv=("${INJECTOR_ENV[@]}")
	if command -v setsid >/dev/null 2>&1; then
		setsid -w "${envv[@]}" go "$@" &
	else
		"${envv[@]}" go "$@" &
	fi
	CHILD="$!"
	wait "${CHILD}" || rc=$?
	CHILD=""
	return "${rc}"
}

# go_build NAME PACKAGE DEST ESTIMATE [LDFLAGS]
go_build() {
	local name="$1" pkg="$2" dest="$3" estimate="$4" ldflags="${5:-}" tmp start
	tmp="$(dirname "${dest}")/.${name}.tmp.$$"
	CLEANUP+=("${tmp}")
	log "building ${name} (${estimate}, once)..."
	start="${SECONDS}"
	go_tools_bg build -trimpath -ldflags="-s -w ${ldflags}" -o "${tmp}" "${pkg}" ||
		die "building ${name} from ${pkg} failed"
	mv -f "${tmp}" "${dest}"
	write_stamp "${name}"
	log "built ${name} in $((SECONDS - start))s -> ${dest}"
}

# Same version stamping as the official release builds (hack/lib/version.sh),
# so /version and `kubectl version` report v1.X.Y rather than v0.0.0-master.
k8s_ldflags() {
	local minor build_date pkg flags=""
	minor="${KUBERNETES_VERSION#v1.}"
	minor="${minor%%.*}"
	build_date="$(go_tools list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X ${pkg}.gitVersion=${KUBERNETES_VERSION}"
		flags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
		flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.gitCommit="
		flags+=" -X ${pkg}.buildDate=${build_date}"
	done
	printf '%s' "${flags}"
}

# Directory of MODULE@VERSION in the module cache (downloading it if needed).
# Run outside any module so nothing is added to go.mod/go.sum.
# (Called in $(...), so it uses the SCRATCH folder made by the main shell.)
module_dir() {
	local out dir
	out="$(cd "${SCRATCH}" && env GOWORK=off GO111MODULE=on GOFLAGS= go mod download -json "$1")" ||
		die "go mod download $1 failed: ${out}"
	dir="$(printf '%s\n' "${out}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -n "${dir}" && -d "${dir}" ]] || die "no module directory for $1 in: ${out}"
	printf '%s\n' "${dir}"
}

# Copy FILE to DEST as a writable regular file.
copy_crd() {
	cp -- "$1" "$2"
	chmod 0644 "$2"
}

generate_crds() {
	local cg tmp out gen dir f spec name ver
	cg="$(artifact_path controller-gen)"
	tmp="$(mktemp -d "${CACHE}/.crds.tmp.XXXXXX")"
	CLEANUP+=("${tmp}")
	out="${tmp}/crds"
	mkdir -p "${out}"
	: >"${out}/SOURCES.txt"

	# Flux: render the CRDs from the api modules' Go types, as the Flux
	# controllers' own `make manifests` does. controller-gen only reads the
	# (read-only) module cache copy.
	for spec in \
		"helm-controller:${FLUX_HELM_API_VERSION}" \
		"kustomize-controller:${FLUX_KUSTOMIZE_API_VERSION}" \
		"source-controller:${FLUX_SOURCE_API_VERSION}"; do
		name="${spec%%:*}"
		ver="${spec#*:}"
		log "generating Flux ${name} CRDs (api ${ver})..."
		dir="$(module_dir "github.com/fluxcd/${name}/api@${ver}")"
		gen="${tmp}/gen-${name}"
		(cd "${dir}" && env -u GOOS -u GOARCH GOWORK=off GOFLAGS=-mod=readonly "${cg}" crd paths=./... output:crd:dir="${gen}") ||
			die "controller-gen failed for github.com/fluxcd/${name}/api@${ver}"
		for f in "${gen}"/*.yaml; do
			[[ -e "${f}" ]] || die "controller-gen produced no CRDs for ${name}"
			copy_crd "${f}" "${out}/flux_$(basename "${f}")"
			echo "flux_$(basename "${f}") <- controller-gen ${CONTROLLER_TOOLS_VERSION} github.com/fluxcd/${name}/api@${ver}" >>"${out}/SOURCES.txt"
		done
	done

	log "copying Istio CRDs (${ISTIO_VERSION})..."
	dir="$(module_dir "istio.io/istio@${ISTIO_VERSION}")"
	f="${dir}/manifests/charts/base/files/crd-all.gen.yaml"
	[[ -f "${f}" ]] || die "missing ${f}"
	copy_crd "${f}" "${out}/istio_crd-all.gen.yaml"
	echo "istio_crd-all.gen.yaml <- istio.io/istio@${ISTIO_VERSION} manifests/charts/base/files/crd-all.gen.yaml" >>"${out}/SOURCES.txt"

	log "copying cert-manager CRDs (${CERT_MANAGER_VERSION})..."
	dir="$(module_dir "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}")"
	for f in "${dir}"/deploy/crds/*.yaml; do
		[[ -e "${f}" ]] || die "no CRDs in ${dir}/deploy/crds"
		copy_crd "${f}" "${out}/cert-manager_$(basename "${f}")"
		echo "cert-manager_$(basename "${f}") <- github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION} deploy/crds/$(basename "${f}")" >>"${out}/SOURCES.txt"
	done

	log "copying OpenReports CRDs (${OPENREPORTS_VERSION})..."
	dir="$(module_dir "github.com/openreports/reports-api@${OPENREPORTS_VERSION}")"
	for f in "${dir}"/config/crd/*.yaml; do
		[[ -e "${f}" ]] || die "no CRDs in ${dir}/config/crd"
		copy_crd "${f}" "${out}/openreports_$(basename "${f}")"
		echo "openreports_$(basename "${f}") <- github.com/openreports/reports-api@${OPENREPORTS_VERSION} config/crd/$(basename "${f}")" >>"${out}/SOURCES.txt"
	done

	# prometheus-operator: only its API module is on the proxy; its CRDs are
	# what controller-gen makes of the v1 types, as the project's own
	# `make generate` does. Only the two kinds manifests/monitoring uses.
	log "generating prometheus-operator CRDs (api ${PROMETHEUS_OPERATOR_API_VERSION})..."
	dir="$(module_dir "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@${PROMETHEUS_OPERATOR_API_VERSION}")"
	gen="${tmp}/gen-prometheus-operator"
	(cd "${dir}" && env -u GOOS -u GOARCH GOWORK=off GOFLAGS=-mod=readonly "${cg}" crd paths=./v1/... output:crd:dir="${gen}") ||
		die "controller-gen failed for prometheus-operator monitoring@${PROMETHEUS_OPERATOR_API_VERSION}"
	for f in "${gen}"/monitoring.coreos.com_servicemonitors.yaml "${gen}"/monitoring.coreos.com_prometheusrules.yaml; do
		[[ -e "${f}" ]] || die "controller-gen made no $(basename "${f}")"
		copy_crd "${f}" "${out}/prometheus-operator_$(basename "${f}")"
		echo "prometheus-operator_$(basename "${f}") <- controller-gen ${CONTROLLER_TOOLS_VERSION} github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@${PROMETHEUS_OPERATOR_API_VERSION}" >>"${out}/SOURCES.txt"
	done

	log "copying Gateway API CRDs (${GATEWAY_API_VERSION}, standard channel)..."
	dir="$(module_dir "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}")"
	for f in "${dir}"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
		[[ -e "${f}" ]] || die "no CRDs in ${dir}/config/crd/standard"
		# The ValidatingAdmissionPolicy beside the CRDs is not a CRD.
		grep -q "^kind: CustomResourceDefinition" "${f}" || continue
		copy_crd "${f}" "${out}/gateway-api_$(basename "${f}")"
		echo "gateway-api_$(basename "${f}") <- sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION} config/crd/standard/$(basename "${f}")" >>"${out}/SOURCES.txt"
	done

	# Guard against upstream layout changes silently dropping a CRD we rely on.
	for name in \
		helmreleases.helm.toolkit.fluxcd.io \
		kustomizations.kustomize.toolkit.fluxcd.io \
		helmrepositories.source.toolkit.fluxcd.io \
		gitrepositories.source.toolkit.fluxcd.io \
		ocirepositories.source.toolkit.fluxcd.io \
		virtualservices.networking.istio.io \
		gateways.networking.istio.io \
		certificates.cert-manager.io \
		issuers.cert-manager.io \
		clusterissuers.cert-manager.io \
		reports.openreports.io \
		clusterreports.openreports.io \
		servicemonitors.monitoring.coreos.com \
		prometheusrules.monitoring.coreos.com \
		gateways.gateway.networking.k8s.io \
		httproutes.gateway.networking.k8s.io \
		grpcroutes.gateway.networking.k8s.io \
		tlsroutes.gateway.networking.k8s.io; do
		grep -qE "^[[:space:]]*name: ${name//./\\.}[[:space:]]*$" "${out}"/*.yaml ||
			die "generated CRDs lack ${name}"
	done

	# Swap the finished folder in; a stale one is moved aside first.
	rm -rf -- "${CACHE}/.crds.old"
	if [[ -e "${CRD_DIR}" ]]; then
		mv -- "${CRD_DIR}" "${CACHE}/.crds.old"
	fi
	mv -- "${out}" "${CRD_DIR}"
	rm -rf -- "${CACHE}/.crds.old"
	write_stamp crds
	log "CRDs ready in ${CRD_DIR} ($(find "${CRD_DIR}" -name '*.yaml' | wc -l) files)"
}

ensure() {
	local a="$1"
	is_done "${a}" && return 0
	case "${a}" in
	etcd)
		go_build etcd go.etcd.io/etcd/server/v3 "$(artifact_path etcd)" \
			"etcd ${ETCD_VERSION}: 1-2 minutes on 2 cores"
		;;
	kube-apiserver)
		go_build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(artifact_path kube-apiserver)" \
			"kube-apiserver ${KUBERNETES_VERSION}: 5-6 minutes on 2 cores" "$(k8s_ldflags)"
		;;
	kube-controller-manager)
		go_build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$(artifact_path kube-controller-manager)" \
			"kube-controller-manager ${KUBERNETES_VERSION}: 2-3 minutes after kube-apiserver" "$(k8s_ldflags)"
		;;
	kubectl)
		go_build kubectl k8s.io/kubernetes/cmd/kubectl "$(artifact_path kubectl)" \
			"kubectl ${KUBERNETES_VERSION}: under 1 minute after kube-apiserver, 2 alone" "$(k8s_ldflags)"
		;;
	istio-injector)
		BUILD_IN=injector go_build istio-injector . "$(artifact_path istio-injector)" \
			"Istio's sidecar injector, istio.io/istio ${ISTIO_VERSION}: 8-9 minutes on 2 cores"
		;;
	controller-gen)
		go_build controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$(artifact_path controller-gen)" \
			"controller-gen ${CONTROLLER_TOOLS_VERSION}: under 1 minute"
		;;
	crds)
		ensure controller-gen
		generate_crds
		;;
	esac
}

START="${SECONDS}"
log "preparing the envtest control plane in ${CACHE}"
for a in "${WANT[@]}"; do
	ensure "${a}"
done
log "done in $((SECONDS - START))s"
print_result
