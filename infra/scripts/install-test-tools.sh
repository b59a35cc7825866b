#!/usr/bin/env bash
# Installs the Debian packages some tests drive, when they are missing: Chromium (tests/browser,
# through playwright-core) and Prometheus (tests/e2e/prometheus-grafana: the scrape config and the
# Grafana dashboard's queries against a real Prometheus). Needs root and apt; otherwise it says what
# to install and the tests that use them fail with the reason.
set -uo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing for some tests: ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "installing ${missing[*]} (Debian packages used by the tests)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
for package in "${missing[@]}"; do
  # Prometheus without its recommends: they would add (and start) the node exporter.
  extra=()
  [ "$package" = prometheus ] && extra=(--no-install-recommends)
  apt-get install -y -qq "${extra[@]}" "$package" >/dev/null \
    || echo "$package could not be installed: the tests that use it will fail" >&2
done
