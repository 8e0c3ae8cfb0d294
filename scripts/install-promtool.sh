#!/usr/bin/env bash
# Makes sure promtool (Prometheus's rule and metrics checker) is installed, for test/prometheus-rules.test.ts
# and test/metrics.test.ts (npm test runs this before jest; the tests run it again, finding it): where it is on PATH this prints its path and nothing else; where it is missing it
# installs Debian's `prometheus` package (which has promtool) when it can, as root with apt-get, since that
# is how the project's machines and CI get their servers' tools.
# Progress and reasons go to stderr. stdout has one line, PROMTOOL=<path>, when promtool can be had, and is
# empty when it cannot (no apt-get, not root, or the install failed: stderr says which); the exit code is 0
# either way, so that the tests can skip saying why instead of the whole run failing on a machine without it.
set -uo pipefail

say() { printf 'install-promtool: %s\n' "$*" >&2; }
found() { echo "PROMTOOL=$(command -v promtool)"; exit 0; }

command -v promtool >/dev/null 2>&1 && found

if ! command -v apt-get >/dev/null 2>&1; then
  say "promtool is not installed and there is no apt-get here to install Debian's prometheus package; install Prometheus's promtool (https://prometheus.io/download/) to run the rule tests"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "promtool is not installed, and installing it needs root: run 'sudo apt-get install -y --no-install-recommends prometheus' once"
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
say "promtool is not installed: installing Debian's prometheus package (once; later runs find it)"
# Only the package: no recommended extras, and no service started by its post-install (policy-rc.d 101),
# since the tests start the Prometheus they need themselves.
install() {
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >>"$log" 2>&1
  local rc=$?
  [ "$had_policy" = 1 ] || rm -f "$policy"
  return $rc
}
# A clean machine may have no package lists yet: update once, then try again.
if ! install; then
  say "first attempt failed; updating the package lists and trying again"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1
  if ! install; then
    say "apt-get could not install prometheus; its output:"
    cat "$log" >&2
    exit 0
  fi
fi
command -v promtool >/dev/null 2>&1 && found
say "the prometheus package is installed but promtool is not on PATH"
exit 0
