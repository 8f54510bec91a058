#!/usr/bin/env bash
# Debian packages the real node needs (runc, CNI plugins, podman, buildah, mmdebstrap,
# iptables, nftables, conntrack), installed only when missing, and podman's config for a
# machine without systemd. Needs root (the real node does anyway).
set -euo pipefail
LOG_PREFIX=realnode-deps
# shellcheck source=hack/k8s/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../k8s/lib.sh"

declare -A wanted=(
    [runc]=/usr/sbin/runc
    [containernetworking-plugins]=/usr/lib/cni/bridge
    [podman]=/usr/bin/podman
    [buildah]=/usr/bin/buildah
    [mmdebstrap]=/usr/bin/mmdebstrap
    [iptables]=/usr/sbin/iptables
    [nftables]=/usr/sbin/nft
    [conntrack]=/usr/sbin/conntrack
    [openssl]=/usr/bin/openssl
)
missing=()
for package in "${!wanted[@]}"; do
    [[ -e "${wanted[$package]}" ]] || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        log "missing packages: ${missing[*]}; the real node needs root to install and run them"
        exit 1
    fi
    log "installing: ${missing[*]} (~30 s)"
    export DEBIAN_FRONTEND=noninteractive
    progress "apt-get update" apt-get update -qq
    progress "apt-get install" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# No systemd as PID 1: podman must manage cgroups itself and log events to a file.
conf=/etc/containers/containers.conf
if [[ ! -e "$conf" ]]; then
    log "writing $conf (cgroupfs, file events)"
    mkdir -p /etc/containers
    printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$conf"
fi
