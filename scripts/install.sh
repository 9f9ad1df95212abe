#!/usr/bin/env bash
# Install everything the Vigil stack and its tests need, idempotently:
#   - Debian packages: prometheus (with promtool), prometheus-alertmanager (with amtool),
#     docker-compose (for the compose config check);
#   - the Python environment .venv with both Vigil distributions (editable) and the dev tools;
#   - otelcol-vigil (otelcol/build.sh), Jaeger v2 and telemetrygen, built from Go modules into
#     $VIGIL_CACHE_DIR/bin (default ~/.cache/vigil/bin), outside the repository.
# Each step is skipped when its inputs have not changed, so a second run takes seconds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}
bin_dir=$cache/bin
mkdir -p "$bin_dir"
# One install at a time: concurrent runs (two shells, or tests calling this while CI does) would
# race on apt's lock, the venv and the Go builds. The lock lives outside the repository.
exec 9>"$cache/install.lock"
flock 9

# Pinned versions. Jaeger tags v1.x and v2.x releases on the same commit, and only the v1 tags
# are valid Go module versions (its module path has no /v2): v1.76.0 is Jaeger v2.13.0, and
# cmd/jaeger in it is the v2 binary.
JAEGER_MODULE_VERSION=v1.76.0
TELEMETRYGEN_VERSION=v0.145.0

say() { printf '[install] %s\n' "$*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=()
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
  # Debian names the Alertmanager binary prometheus-alertmanager; amtool comes with it.
  command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null \
    || missing+=(prometheus-alertmanager)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  # The Docker collector's tests run a private dockerd (in a network namespace of its own) on an
  # image made from the static busybox (tests/instrumentation/metrics/dockerd.py).
  command -v dockerd >/dev/null || missing+=(docker.io)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  # The sidecar's C extensions (processors/setup.py) are compiled at install.
  command -v gcc >/dev/null || missing+=(gcc)
  [[ ${#missing[@]} -eq 0 ]] && return
  say "installing Debian packages: ${missing[*]}"
  # Keep packaged services (prometheus, alertmanager, dockerd) from starting on the host: the
  # stack starts what it needs itself, on loopback.
  if [[ ! -f /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
  fi
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local venv=$root/.venv stamp
  # The instrumentation's optional extras, for their tests (docker: the Docker collector's).
  local extras=docker
  stamp=$({ cat "$root/pyproject.toml" "$root/instrumentation/pyproject.toml" "$root/processors/pyproject.toml" \
    "$root/instrumentation/setup.py" "$root/instrumentation/src/vigil-instrumentation.pth" \
    "$root/processors/setup.py" "$root"/processors/src/vigil/processors/*.c \
    "$root"/processors/src/vigil/processors/threat/*.c; echo "$extras"; } | sha256sum | cut -c1-16)
  # The editable install builds the sidecar's C extensions in place: gone (git clean -x), build them again.
  if [[ -x $venv/bin/python && -f $venv/.vigil-stamp && $(cat "$venv/.vigil-stamp") == "$stamp" ]] \
    && compgen -G "$root/processors/src/vigil/processors/_span_columns*.so" >/dev/null \
    && compgen -G "$root/processors/src/vigil/processors/threat/_sql_lexer*.so" >/dev/null; then
    say "python environment up to date (.venv)"
    return
  fi
  say "creating the python environment (.venv)"
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip setuptools wheel
  "$venv/bin/pip" install -q -e "$root/instrumentation[$extras]" -e "$root/processors" -e "$root"
  echo "$stamp" > "$venv/.vigil-stamp"
}

# go_tool NAME VERSION COMMAND...: run COMMAND to build $bin_dir/NAME unless that version is there.
go_tool() {
  local name=$1 version=$2; shift 2
  local stamp=$cache/$name.version
  if [[ -x $bin_dir/$name && -f $stamp && $(cat "$stamp") == "$version" ]]; then
    say "$name $version up to date"
    return
  fi
  say "building $name $version from Go modules (a few minutes on 2 cores)"
  "$@"
  echo "$version" > "$stamp"
}

build_jaeger() {
  # `go install module@version` refuses modules with replace directives, and Jaeger's go.mod has
  # one: build from the module's source as the main module instead.
  local work=$cache/jaeger-build src dir
  src=$work/src
  dir=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$src" && mkdir -p "$work" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin_dir/jaeger" ./cmd/jaeger)
}

build_telemetrygen() {
  GOBIN=$bin_dir CGO_ENABLED=0 go install -trimpath \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$TELEMETRYGEN_VERSION"
}

command -v go >/dev/null || { say "Go is required (>= 1.25) and not on PATH"; exit 1; }
install_debian_packages
install_python
VIGIL_CACHE_DIR=$cache "$root/otelcol/build.sh"
go_tool jaeger "$JAEGER_MODULE_VERSION" build_jaeger
go_tool telemetrygen "$TELEMETRYGEN_VERSION" build_telemetrygen
say "done: binaries in $bin_dir, python in $root/.venv"
