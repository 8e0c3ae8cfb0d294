#!/usr/bin/env bash
# Makes sure Prometheus's tools are installed for the tests that prove our Prometheus side
# (test/prometheus-rules.test.ts, test/alertmanager.test.ts, test/metrics.test.ts): promtool and prometheus
# (Debian's `prometheus` package) and Alertmanager (Debian's `prometheus-alertmanager`). npm test runs this
# before jest; the tests run it again, finding them. Where one is missing it installs the package as root
# with apt-get, since that is how the project's machines and CI get their servers' tools.
# Progress and reasons go to stderr. stdout has a line NAME=<path> for each tool that can be had
# (PROMTOOL, PROMETHEUS, ALERTMANAGER) and none for one that cannot (no apt-get, not root, or the install
# failed: stderr says which); the exit code is 0 either way, so that the tests can skip saying why instead
# of the whole run failing on a machine without them.
set -uo pipefail

say() { printf 'install-prometheus: %s\n' "$*" >&2; }

# tool command, then the Debian package that has it
TOOLS=("promtool prometheus" "prometheus prometheus" "prometheus-alertmanager prometheus-alertmanager")

missing_packages() {
  local entry cmd pkg out=()
  for entry in "${TOOLS[@]}"; do
    read -r cmd pkg <<<"$entry"
    command -v "$cmd" >/dev/null 2>&1 || out+=("$pkg")
  done
  printf '%s\n' "${out[@]}" | sort -u | grep -v '^$'
}

report() {
  local entry cmd pkg name
  for entry in "${TOOLS[@]}"; do
    read -r cmd pkg <<<"$entry"
    case "$cmd" in
      promtool) name=PROMTOOL ;;
      prometheus) name=PROMETHEUS ;;
      *) name=ALERTMANAGER ;;
    esac
    command -v "$cmd" >/dev/null 2>&1 && echo "$name=$(command -v "$cmd")"
  done
  exit 0
}

mapfile -t packages < <(missing_packages)
[ "${#packages[@]}" -eq 0 ] && report

if ! command -v apt-get >/dev/null 2>&1; then
  say "missing: ${packages[*]}, and there is no apt-get here to install Debian's packages; install Prometheus's promtool, prometheus and alertmanager (https://prometheus.io/download/) to run those tests"
  report
fi
if [ "$(id -u)" -ne 0 ]; then
  say "missing: ${packages[*]}, and installing them needs root: run 'sudo apt-get install -y --no-install-recommends ${packages[*]}' once"
  report
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
say "installing Debian's ${packages[*]} (once; later runs find them)"
# Only the packages: no recommended extras, and no service started by their post-install (policy-rc.d
# 101), since the tests start the Prometheus and Alertmanager they need themselves.
install() {
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" >>"$log" 2>&1
  local rc=$?
  [ "$had_policy" = 1 ] || rm -f "$policy"
  return $rc
}
# A clean machine may have no package lists yet: update once, then try again.
if ! install; then
  say "first attempt failed; updating the package lists and trying again"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1
  if ! install; then
    say "apt-get could not install ${packages[*]}; its output:"
    cat "$log" >&2
  fi
fi
mapfile -t still < <(missing_packages)
[ "${#still[@]}" -eq 0 ] || say "still missing after the install: ${still[*]}"
report
