#!/usr/bin/env bash
# Build the real node's images with podman, without a registry, and save them to one archive
# that `python -m devenv.realnode up` imports into containerd:
#   localhost/kasynq-python-base:3.11-bookworm  Debian's python3 (mmdebstrap), the PYTHON_IMAGE
#   docker.io/library/kasynq-{operator,worker,worker-examples}:dev  from our three Dockerfiles
#   docker.io/library/redis:7.4-alpine  Debian's redis-server, so examples/redis.yaml runs as is
#   localhost/kasynq-pause:1.0, localhost/kasynq-coredns:1.15.0  from hack/realnode/build.sh
# The base tars are cached; our images are rebuilt only when their sources changed.
#
# Usage: hack/realnode/images.sh <node bin dir>   prints the archive's path
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
node_bin="$1"
out="${KASYNQ_CACHE:-$HOME/.cache/kasynq}/realnode"
PYTHON_BASE=localhost/kasynq-python-base:3.11-bookworm
REDIS=docker.io/library/redis:7.4-alpine
PAUSE=localhost/kasynq-pause:1.0
COREDNS=localhost/kasynq-coredns:1.15.0
LOG_PREFIX=realnode-images
# shellcheck source=hack/k8s/lib.sh
source "$here/../k8s/lib.sh"

# debootstrap_tar <tar> <packages> <hook>: a minimal Debian 12 root filesystem, once.
debootstrap_tar() {
    local tar="$1" include="$2" hook="$3"
    [[ -s "$tar" ]] && return 0
    # mmdebstrap picks the format from the extension: the partial file must end in .tar.
    progress "mmdebstrap $(basename "$tar")" nice -n 10 mmdebstrap --quiet --variant=minbase \
        --include="$include" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook="$hook; rm -rf \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/cache/apt/*" \
        bookworm "${tar%.tar}.part.tar"
    mv "${tar%.tar}.part.tar" "$tar"
}

has_image() { podman image exists "$1"; }

# from_binary <image> <binary> <user> [entrypoint args...]: a FROM-scratch image of one
# static binary.
from_binary() {
    local image="$1" binary="$2" user="$3" context
    shift 3
    has_image "$image" && return 0
    context="$(mktemp -d)"
    cp "$node_bin/$binary" "$context/"
    local entry
    entry="$(printf '"%s",' "/$binary" "$@")"
    printf 'FROM scratch\nCOPY %s /%s\nUSER %s\nENTRYPOINT [%s]\n' \
        "$binary" "$binary" "$user" "${entry%,}" >"$context/Containerfile"
    progress "image $image" podman build --quiet --pull=never -t "$image" "$context" >/dev/null
    rm -rf "$context"
}

# Hash of everything our three Dockerfiles copy: rebuild only when it changes.
sources_digest() {
    (cd "$repo" && find pyproject.toml README.md LICENSE requirements worker operator examples \
        -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9  # one image build at a time: podman's storage and the archive are shared

python_tar="$out/python-base.tar"
redis_tar="$out/redis-base.tar"
debootstrap_tar "$python_tar" python3,python3-pip,python3-venv,ca-certificates,passwd \
    'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; ln -sf python3 "$1"/usr/bin/python; [ -e "$1"/usr/bin/pip ] || ln -sf pip3 "$1"/usr/bin/pip'
debootstrap_tar "$redis_tar" redis-server,redis-tools \
    'mkdir -p "$1"/data && chmod 1777 "$1"/data'
has_image "$PYTHON_BASE" || progress "import $PYTHON_BASE" podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$python_tar" "$PYTHON_BASE" >/dev/null
has_image "$REDIS" || progress "import $REDIS" podman import --quiet \
    --change 'ENTRYPOINT ["redis-server", "--protected-mode", "no"]' --change 'WORKDIR /data' \
    "$redis_tar" "$REDIS" >/dev/null
from_binary "$PAUSE" pause 65535:65535
from_binary "$COREDNS" coredns 65534:65534 -conf /etc/coredns/Corefile

digest="$(sources_digest)"
archive="$out/images-$digest.tar"
if [[ ! -s "$archive" ]]; then
    # The host's CA bundle, for pip behind a TLS-inspecting proxy; mounted, never baked in.
    # --no-cache: buildah 1.28 cannot bind-mount a cached stage (RUN --mount=from=build).
    ca=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
    build=(podman build --quiet --no-cache --pull=never --network host "${ca[@]}")
    progress "build kasynq-worker:dev" "${build[@]}" --build-arg "PYTHON_IMAGE=$PYTHON_BASE" \
        -f "$repo/worker/Dockerfile" -t docker.io/library/kasynq-worker:dev "$repo" >/dev/null
    progress "build kasynq-worker-examples:dev" "${build[@]}" \
        --build-arg WORKER_IMAGE=docker.io/library/kasynq-worker:dev \
        -f "$repo/examples/Dockerfile" -t docker.io/library/kasynq-worker-examples:dev \
        "$repo/examples" >/dev/null
    progress "build kasynq-operator:dev" "${build[@]}" --build-arg "PYTHON_IMAGE=$PYTHON_BASE" \
        -f "$repo/operator/Dockerfile" -t docker.io/library/kasynq-operator:dev "$repo" >/dev/null
    rm -f "$out"/images-*.tar
    progress "save $(basename "$archive")" podman save --quiet -m --format docker-archive \
        -o "$archive.part" "$PAUSE" "$COREDNS" "$REDIS" docker.io/library/kasynq-worker:dev \
        docker.io/library/kasynq-worker-examples:dev docker.io/library/kasynq-operator:dev
    mv "$archive.part" "$archive"
    # The build stages and the images these builds replaced, ~0.6 GB a rebuild otherwise.
    podman image prune --force >/dev/null
fi
echo "$archive"
