#!/usr/bin/env bash
# Build the local Kubernetes control plane used by tests and the demo: kube-apiserver,
# kube-controller-manager, kubectl (Kubernetes 1.35), etcd (3.6) and helm, all with
# CGO_ENABLED=0, into $KASYNQ_CACHE/k8s/<versions>/bin. Does nothing when they are there.
#
# Usage: hack/k8s/build.sh            build if needed, check --version, print the bin dir
#        hack/k8s/build.sh --bin-dir  only print the bin dir (no build)
set -euo pipefail

K8S_VERSION=1.35.4   # keep in step with hack/k8s/kube/go.mod
ETCD_VERSION=3.6.14  # keep in step with hack/k8s/etcd/go.mod
HELM_VERSION=3.21.4

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go_version="$(go env GOVERSION)"
cache="${KASYNQ_CACHE:-$HOME/.cache/kasynq}"
root="$cache/k8s/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-$go_version"
bin="$root/bin"
binaries=(kube-apiserver kube-controller-manager kubectl etcd helm)

if [[ "${1:-}" == "--bin-dir" ]]; then
    echo "$bin"
    exit 0
fi

LOG_PREFIX=k8s-bins
# shellcheck source=hack/k8s/lib.sh
source "$here/lib.sh"

# Each binary's version line must match exactly. (No `| grep -q`: with pipefail, grep
# exiting early can kill the writer with SIGPIPE and fail the check at random.)
expect_line() {
    local want="$1" output
    shift
    output="$("$@")"
    if ! grep -Fxq -- "$want" <<<"$output"; then
        log "$* printed no line '$want': $output"
        return 1
    fi
}

check_versions() {
    local dir="$1"
    expect_line "Kubernetes v$K8S_VERSION" "$dir/kube-apiserver" --version
    expect_line "Kubernetes v$K8S_VERSION" "$dir/kube-controller-manager" --version
    expect_line "Client Version: v$K8S_VERSION" "$dir/kubectl" version --client
    expect_line "etcd Version: $ETCD_VERSION" "$dir/etcd" --version
    expect_line "v$HELM_VERSION" "$dir/helm" version --template '{{.Version}}'
}

build_into() {
    local out="$1" date
    export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
    # Release date of the module as build date: reproducible, and honest about the source.
    date="$(cd "$here/kube" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
    local ver_ldflags pkg
    ver_ldflags="$(kube_version_ldflags "$K8S_VERSION" "$date")"
    log "building kube-apiserver, kube-controller-manager, kubectl v$K8S_VERSION (cold: ~5 min)"
    (cd "$here/kube" && progress "kube-apiserver, kube-controller-manager, kubectl" \
        nice -n 10 go build -o "$out/" -ldflags "-s -w$ver_ldflags" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kubectl)
    log "building etcd v$ETCD_VERSION"
    (cd "$here/etcd" && progress etcd \
        nice -n 10 go build -o "$out/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3)
    log "building helm v$HELM_VERSION"
    # helm v3 defaults its Kubernetes version to 1.20 unless these are set (see its Makefile).
    local helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
    for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
        helm_ldflags+=" -X $pkg.k8sVersionMajor=${K8S_VERSION%%.*}"
        helm_ldflags+=" -X $pkg.k8sVersionMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
    done
    GOBIN="$out" progress helm \
        nice -n 10 go install -ldflags "$helm_ldflags" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
}

build_once "$root" "$bin" "${binaries[@]}"
echo "$bin"
