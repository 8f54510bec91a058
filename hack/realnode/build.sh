#!/usr/bin/env bash
# Build the real node's binaries: kubelet, kube-scheduler, kube-proxy (Kubernetes 1.35.4, the
# pins of hack/k8s/kube/go.mod), containerd 2.4.2 + its runc shim + ctr, CoreDNS 1.15.0
# (hack/realnode/coredns) and the sandbox's pause (hack/realnode/pause), all with
# CGO_ENABLED=0, into $KASYNQ_CACHE/k8s/node-<versions>/bin. Builds the control plane first
# (hack/k8s/build.sh). Does nothing when all are there.
#
# Usage: hack/realnode/build.sh            build if needed, print the node bin dir
#        hack/realnode/build.sh --bin-dir  only print the node bin dir (no build)
set -euo pipefail

K8S_VERSION=1.35.4         # keep in step with hack/k8s/kube/go.mod
CONTAINERD_VERSION=2.4.2
COREDNS_VERSION=1.15.0     # keep in step with hack/realnode/coredns/go.mod

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s="$here/../k8s"
go_version="$(go env GOVERSION)"
cache="${KASYNQ_CACHE:-$HOME/.cache/kasynq}"
root="$cache/k8s/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-coredns-$COREDNS_VERSION-$go_version"
bin="$root/bin"
binaries=(kubelet kube-scheduler kube-proxy containerd containerd-shim-runc-v2 ctr coredns pause)

if [[ "${1:-}" == "--bin-dir" ]]; then
    echo "$bin"
    exit 0
fi

LOG_PREFIX=node-bins
# shellcheck source=hack/k8s/lib.sh
source "$k8s/lib.sh"

build_into() {
    local out="$1" date
    export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
    date="$(cd "$k8s/kube" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
    log "building kubelet, kube-scheduler, kube-proxy v$K8S_VERSION (after the control plane: ~1 min; empty Go cache: ~4 min)"
    (cd "$k8s/kube" && progress "kubelet, kube-scheduler, kube-proxy" \
        nice -n 10 go build -o "$out/" -ldflags "-s -w$(kube_version_ldflags "$K8S_VERSION" "$date")" \
        k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler \
        k8s.io/kubernetes/cmd/kube-proxy)
    log "building containerd v$CONTAINERD_VERSION (~1 min)"
    GOBIN="$out" progress containerd nice -n 10 go install -ldflags "-s -w" \
        "github.com/containerd/containerd/v2/cmd/containerd@v$CONTAINERD_VERSION" \
        "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
        "github.com/containerd/containerd/v2/cmd/ctr@v$CONTAINERD_VERSION"
    log "building CoreDNS v$COREDNS_VERSION (~1.5 min)"
    (cd "$here/coredns" && progress coredns \
        nice -n 10 go build -o "$out/coredns" -ldflags "-s -w" .)
    (cd "$here/pause" && progress pause nice -n 10 go build -o "$out/pause" -ldflags "-s -w" .)
}

check_versions() {
    local dir="$1"
    "$dir/kubelet" --version | grep -Fx "Kubernetes v$K8S_VERSION" >/dev/null
    "$dir/kube-proxy" --version | grep -Fx "Kubernetes v$K8S_VERSION" >/dev/null
    "$dir/kube-scheduler" --version | grep -Fx "Kubernetes v$K8S_VERSION" >/dev/null
}

bash "$k8s/build.sh" >/dev/null
build_once "$root" "$bin" "${binaries[@]}"
echo "$bin"
