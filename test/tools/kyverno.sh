#!/usr/bin/env bash
# Builds, once, Kyverno's admission controller (cmd/kyverno of
# github.com/kyverno/kyverno at KYVERNO_VERSION in versions.env) from the Go
# module proxy, and copies the CRDs it needs beside it, into a per-version
# cache folder outside the repo; later runs reuse it instantly. The load
# benchmark (test/bench) runs it as a peer of our webhook (BENCHMARKS.md).
#
# Usage:
#   KYVERNO="$(test/tools/kyverno.sh)"         # the kyverno binary
#   KYVERNO_CRDS="$(test/tools/kyverno.sh crds)" # its CRD folder
#
# Stdout carries exactly one line, the requested path; progress goes to stderr.
# Cache root: as controlplane.sh's ($PLATFORM_WEBHOOK_CACHE, else
# $XDG_CACHE_HOME/platform-webhook, else $HOME/.cache/platform-webhook).
#
# Kyverno's go.mod has replace directives, so `go install module@version`
# refuses it: the module's source is copied from the module cache into a
# writable folder and built there, as its own Makefile builds it
# (`go build ./cmd/kyverno`, CGO_ENABLED=0). That is about 12 minutes of CPU on
# this 2-core machine and a ~260 MB binary; it runs under `nice -n 19` so that
# benchmarks running meanwhile are disturbed as little as can be.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${TOOLS_DIR}/versions.env"

# Bump when the way artifacts are built changes, to force a rebuild.
RECIPE=1
MODULE="github.com/kyverno/kyverno"

PROG="kyverno.sh"
log() { printf '%s: %s\n' "${PROG}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	cat >&2 <<EOF
usage: ${PROG} [bin|crds]
  bin   (default) ensure kyverno ${KYVERNO_VERSION} is built; print the binary's path
  crds  ensure its CRDs are copied; print the CRD folder
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
CACHE="${CACHE_ROOT}/kyverno-${KYVERNO_VERSION}"
BIN="${CACHE}/kyverno"
CRD_DIR="${CACHE}/crds"
STAMP_DIR="${CACHE}/.stamps"

recipe_for() { echo "r${RECIPE} ${MODULE}@${KYVERNO_VERSION} $1"; }

is_done() {
	local path="$1" name="$2"
	[[ -e "${path}" && -f "${STAMP_DIR}/${name}" ]] && [[ "$(<"${STAMP_DIR}/${name}")" == "$(recipe_for "${name}")" ]]
}

write_stamp() {
	local tmp="${STAMP_DIR}/.$1.tmp.$$"
	recipe_for "$1" >"${tmp}"
	mv -f "${tmp}" "${STAMP_DIR}/$1"
}

print_result() {
	case "${MODE}" in
	bin) printf '%s\n' "${BIN}" ;;
	crds) printf '%s\n' "${CRD_DIR}" ;;
	esac
}

# Fast path: everything present, no lock, no go invocation. Both modes want
# both artifacts: the benchmark needs the binary and its CRDs together.
if is_done "${BIN}" kyverno && is_done "${CRD_DIR}" crds; then
	print_result
	exit 0
fi

command -v go >/dev/null 2>&1 || die "go not found on PATH"
mkdir -p "${STAMP_DIR}"

CLEANUP=()
CHILD=""
cleanup() {
	local p
	if [[ -n "${CHILD}" ]]; then
		kill -TERM -- "-${CHILD}" 2>/dev/null || kill -TERM "${CHILD}" 2>/dev/null || true
		wait "${CHILD}" 2>/dev/null || true
	fi
	for p in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
		chmod -R u+w -- "${p}" 2>/dev/null || true
		rm -rf -- "${p}"
	done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

exec 9>"${CACHE}/.lock"
if command -v flock >/dev/null 2>&1; then
	if ! flock -n 9; then
		log "another ${PROG} is building in ${CACHE}; waiting for it..."
		flock 9
	fi
else
	log "warning: flock not found (Debian: util-linux); concurrent runs are not serialised"
fi

SCRATCH="$(mktemp -d "${CACHE}/.build.XXXXXX")"
CLEANUP+=("${SCRATCH}")

# Directory of the module in the module cache (downloading it if needed), asked
# outside any module so nothing is added to a go.mod.
module_dir() {
	local out dir
	out="$(cd "${SCRATCH}" && env GOWORK=off GO111MODULE=on GOFLAGS= go mod download -json "${MODULE}@${KYVERNO_VERSION}")" ||
		die "go mod download ${MODULE}@${KYVERNO_VERSION} failed: ${out}"
	dir="$(printf '%s\n' "${out}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -n "${dir}" && -d "${dir}" ]] || die "no module directory for ${MODULE}@${KYVERNO_VERSION} in: ${out}"
	printf '%s\n' "${dir}"
}

SRC="$(module_dir)"
START="${SECONDS}"

if ! is_done "${BIN}" kyverno; then
	log "building kyverno ${KYVERNO_VERSION} (about 12 minutes of CPU on 2 cores, nice 19, once)..."
	# A writable copy of the module's source (the module cache is read-only),
	# built as the main module so that its go.mod's replace directives apply.
	cp -r -- "${SRC}" "${SCRATCH}/src"
	chmod -R u+w -- "${SCRATCH}/src"
	tmp="${CACHE}/.kyverno.tmp.$$"
	CLEANUP+=("${tmp}")
	# Same ldflags as Kyverno's Makefile (LD_FLAGS): the version shows in its logs.
	# In its own process group (setsid), so that cleanup() stops the whole
	# build at once on Ctrl-C or a kill.
	build=(nice -n 19 env -C "${SCRATCH}/src" -u GOOS -u GOARCH GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
		go build -trimpath -ldflags="-s -w -X ${MODULE}/pkg/version.BuildVersion=${KYVERNO_VERSION}" -o "${tmp}" ./cmd/kyverno)
	if command -v setsid >/dev/null 2>&1; then
		setsid -w "${build[@]}" &
	else
		"${build[@]}" &
	fi
	CHILD="$!"
	rc=0
	wait "${CHILD}" || rc=$?
	CHILD=""
	[[ "${rc}" -eq 0 ]] || die "go build ./cmd/kyverno in ${MODULE}@${KYVERNO_VERSION} failed (exit ${rc})"
	mv -f "${tmp}" "${BIN}"
	write_stamp kyverno
	log "built kyverno in $((SECONDS - START))s -> ${BIN}"
fi

if ! is_done "${CRD_DIR}" crds; then
	# Every CRD Kyverno's admission controller watches or writes: its policies
	# (kyverno.io, policies.kyverno.io), reports (reports.kyverno.io,
	# wgpolicyk8s.io). The chart installs the same files (charts/crds).
	out="${SCRATCH}/crds"
	mkdir -p "${out}"
	for sub in kyverno policies.kyverno.io reports policyreport; do
		for f in "${SRC}/config/crds/${sub}"/*.yaml; do
			[[ -e "${f}" ]] || die "no CRDs in ${SRC}/config/crds/${sub}"
			cp -- "${f}" "${out}/$(basename "${f}")"
			chmod 0644 "${out}/$(basename "${f}")"
		done
	done
	grep -qE '^[[:space:]]*name: clusterpolicies\.kyverno\.io[[:space:]]*$' "${out}"/*.yaml ||
		die "the CRDs copied lack clusterpolicies.kyverno.io"
	rm -rf -- "${CRD_DIR}"
	mv -- "${out}" "${CRD_DIR}"
	write_stamp crds
	log "CRDs ready in ${CRD_DIR} ($(find "${CRD_DIR}" -name '*.yaml' | wc -l) files)"
fi

print_result
