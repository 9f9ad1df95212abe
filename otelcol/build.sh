#!/usr/bin/env bash
# Build otelcol-vigil from otelcol/manifest.yaml with the OpenTelemetry Collector Builder (ocb).
#
# The build happens in a cache outside the repository ($VIGIL_CACHE_DIR, default ~/.cache/vigil)
# and is skipped when neither the manifest, this script nor the Go toolchain has changed.
# The binary ends up at $VIGIL_CACHE_DIR/bin/otelcol-vigil.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}
bin_dir=$cache/bin
work=$cache/otelcol-build
manifest=$here/manifest.yaml
# ocb is released with the collector core: keep it at the manifest's version.
ocb_version=$(grep -m1 -oE 'go.opentelemetry.io/collector/[a-z/]+ v[0-9.]+' "$manifest" | awk '{print $2}')

say() { printf '[otelcol-build] %s\n' "$*" >&2; }

mkdir -p "$bin_dir" "$work"
# Backports to modules of the manifest's release (otelcol/patches/*.patch, each naming its module).
patches=("$here"/patches/*.patch)
[[ -e ${patches[0]} ]] || patches=()
stamp=$( { cat "$manifest" "${BASH_SOURCE[0]}" "${patches[@]}"; go version; } | sha256sum | cut -c1-16)
if [[ -x $bin_dir/otelcol-vigil && -f $work/stamp && $(cat "$work/stamp") == "$stamp" ]]; then
  say "up to date ($bin_dir/otelcol-vigil, inputs $stamp)"
  exit 0
fi

# The checksum database behind our module proxy has no entries for many modules of these
# releases (the sparse OpenTelemetry ones, and AWS and Google SDK modules they import), so it
# cannot vouch for them. Module hashes are pinned by otelcol/go.sum instead: the build copies it
# in, Go verifies every download against it, and a build that resolves a new module records it
# there (commit it). The same scheme Jaeger's own go.sum gives its build.
export GOSUMDB=off
export GOFLAGS=-mod=mod

export GOBIN=$cache/go-tools/ocb-$ocb_version
if [[ ! -x $GOBIN/builder ]]; then
  say "installing ocb $ocb_version from Go modules"
  go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version"
fi

src=$work/src
rm -rf "$src"
mkdir -p "$src"
sed "s#^\(  output_path:\).*#\1 $src#" "$manifest" > "$work/manifest.yaml"
[[ -f $here/go.sum ]] && cp "$here/go.sum" "$src/go.sum"

start=$SECONDS
say "generating sources and resolving modules (the first run downloads ~450 MB of modules)"
"$GOBIN/builder" --config "$work/manifest.yaml" --skip-compilation >"$work/ocb.log" 2>&1 || {
  tail -n 40 "$work/ocb.log" >&2; say "ocb failed; full log: $work/ocb.log"; exit 1; }
# Each patch is applied to a copy of its module (the module cache is read-only), and the build
# uses the copy through a replace directive. The reverse check proves it applied: git apply
# skips, silently, paths outside the directory it runs in when that is inside a repository.
for patch in "${patches[@]}"; do
  module=$(sed -n 's/^Module: //p' "$patch")
  [[ $module == *@* ]] || { say "$patch names no 'Module: path@version'"; exit 1; }
  dir=$(cd "$src" && go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  copy=$work/patched/${module##*/}
  rm -rf "$copy" && mkdir -p "$work/patched" && cp -r "$dir" "$copy" && chmod -R u+w "$copy"
  (cd "$copy" && git apply -p1 "$patch" && git apply -p1 --reverse --check "$patch") || {
    say "cannot apply $patch to $module"; exit 1; }
  (cd "$src" && go mod edit -replace "${module%@*}=$copy")
  say "patched ${module##*/} with $(basename "$patch")"
done

say "sources ready after $((SECONDS - start)) s; compiling ~2,100 packages (about 7 min on 2 cores with an empty Go build cache)"

# go build -v names each package as it compiles it: turn that into a progress line.
rm -f "$work/otelcol-vigil.new"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -v -o "$work/otelcol-vigil.new" . 2>&1) \
  | tee "$work/build.log" \
  | awk '{ n++; if (n % 100 == 0) { printf "[otelcol-build] %d packages compiled\n", n > "/dev/stderr"; fflush() } }' \
  || true
[[ -x $work/otelcol-vigil.new ]] || {
  tail -n 40 "$work/build.log" >&2; say "compilation failed; full log: $work/build.log"; exit 1; }
if [[ ! -f $here/go.sum ]] || ! cmp -s "$src/go.sum" "$here/go.sum"; then
  cp "$src/go.sum" "$here/go.sum"
  say "recorded module hashes in otelcol/go.sum: commit it"
fi

mv "$work/otelcol-vigil.new" "$bin_dir/otelcol-vigil"
echo "$stamp" > "$work/stamp"
say "built $bin_dir/otelcol-vigil in $((SECONDS - start)) s"
