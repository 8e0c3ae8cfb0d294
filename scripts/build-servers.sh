#!/usr/bin/env bash
# Builds the pinned local servers into a cache outside the clone, skipping what is already built:
#   - the Temporal CLI (its dev server and UI), from the Go module proxy at TEMPORAL_CLI_VERSION;
#   - ferretdb-local (servers/ferretdb): FerretDB's embeddable package, pinned by its go.mod/go.sum.
# Progress goes to stderr. On success stdout has two lines, TEMPORAL_BIN=<path> and FERRETDB_BIN=<path>,
# which is how the rest of tis-workflows finds the binaries (src/local/servers.ts).
# Cache: $TISW_CACHE_DIR, else $XDG_CACHE_HOME/tis-workflows, else ~/.cache/tis-workflows.
set -euo pipefail

TEMPORAL_CLI_VERSION=v1.5.1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TISW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-workflows}/servers

say() { printf 'build-servers: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    PATH=/usr/local/go/bin:$PATH
  else
    say "Go is not installed, and it is needed once to build the local Temporal and FerretDB servers."
    say "Install Go 1.24 or newer (https://go.dev/doc/install, or 'apt-get install golang-go' where it is recent enough), then run this again."
    exit 1
  fi
fi

# build NAME DEST CMD...: runs CMD (which must write DEST's directory) unless DEST exists, printing a
# line every 30 s so that a cold build of several minutes does not look hung.
build() {
  local name=$1 dest=$2; shift 2
  if [ -x "$dest" ]; then
    say "$name: already built ($dest)"
    return
  fi
  local tmp; tmp=$(mktemp -d "$cache/.build.XXXXXX")
  say "$name: building with $(go version | cut -d' ' -f3); the first build takes minutes (downloads modules, compiles), later runs reuse it"
  local start=$SECONDS
  ( "$@" "$tmp" ) >"$tmp.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if (( (SECONDS - start) % 30 < 2 && SECONDS - start >= 30 )); then
      say "$name: still building ($((SECONDS - start)) s)"
    fi
  done
  if ! wait "$pid"; then
    say "$name: build failed; its output:"
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    exit 1
  fi
  mkdir -p "$(dirname "$dest")"
  # A rename is atomic, so two builds racing each other both end with a whole binary.
  mv -f "$tmp/$(basename "$dest")" "$dest"
  rm -rf "$tmp" "$tmp.log"
  say "$name: built in $((SECONDS - start)) s ($dest)"
}

build_temporal() { (cd "$1" && GOBIN="$1" GOFLAGS=-buildvcs=false go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"); }
build_ferretdb() { (cd "$repo/servers/ferretdb" && GOFLAGS=-buildvcs=false go build -trimpath -o "$1/ferretdb-local" .); }

mkdir -p "$cache"
temporal_bin=$cache/temporal-$TEMPORAL_CLI_VERSION/temporal
# ferretdb-local is ours: its cache key is a hash of its source and pins, so any change rebuilds it.
ferretdb_key=$(cd "$repo/servers/ferretdb" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)
ferretdb_bin=$cache/ferretdb-local-$ferretdb_key/ferretdb-local

build "Temporal CLI $TEMPORAL_CLI_VERSION" "$temporal_bin" build_temporal
build "ferretdb-local (FerretDB $(awk '$1=="github.com/FerretDB/FerretDB"{print $2}' "$repo/servers/ferretdb/go.mod"))" "$ferretdb_bin" build_ferretdb

echo "TEMPORAL_BIN=$temporal_bin"
echo "FERRETDB_BIN=$ferretdb_bin"
