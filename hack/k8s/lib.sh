# Shared by the build scripts under hack/: logging and progress. Source it after setting
# LOG_PREFIX (the word every line starts with).

log() { echo "${LOG_PREFIX:-hack}: $*" >&2; }

# progress <what> <command...>: run it, saying every 30 s that it is still at work (a cold
# `go build` is minutes of silence otherwise), then how long it took.
progress() {
    local what="$1" started rc=0 ticker
    shift
    started=$(date +%s)
    (while sleep 30; do log "$what: still at work, $(($(date +%s) - started))s"; done) &
    ticker=$!
    "$@" || rc=$?
    kill "$ticker" 2>/dev/null || true
    wait "$ticker" 2>/dev/null || true
    log "$what: $([[ $rc -eq 0 ]] && echo done || echo "failed ($rc)") in $(($(date +%s) - started))s"
    return "$rc"
}

# kube_version_ldflags <version> <date>: the -X flags that make a Kubernetes binary report
# its release (`--version`) instead of v0.0.0.
kube_version_ldflags() {
    local version="$1" date="$2" pkg flags=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=v$version -X $pkg.gitMajor=${version%%.*}"
        flags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$version") -X $pkg.gitTreeState=clean"
        flags+=" -X $pkg.buildDate=$date"
    done
    echo "$flags"
}

# build_once <root> <bin> <binary names...>: unless every named binary is in <bin>, run the
# caller's `build_into <staging>` and `check_versions <staging>` in a fresh directory under
# <root> and move it to <bin>; then `check_versions <bin>`. Holds <root>/.lock throughout:
# one build at a time, also across parallel test sessions.
build_once() {
    local root="$1" bin="$2" name staging start missing=0
    shift 2
    mkdir -p "$root"
    exec 9>"$root/.lock"
    flock 9
    for name in "$@"; do
        [[ -x "$bin/$name" ]] || missing=1
    done
    if [[ $missing -eq 1 ]]; then
        staging="$(mktemp -d "$root/build.XXXXXX")"
        # shellcheck disable=SC2064  # the path is fixed now
        trap "rm -rf '$staging'" EXIT
        start=$SECONDS
        build_into "$staging"
        check_versions "$staging"
        chmod 755 "$staging"
        rm -rf "$bin" && mv "$staging" "$bin"
        log "built in $((SECONDS - start))s into $bin"
    fi
    check_versions "$bin"
}
