#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (apt-get, through
# sudo unless this runs as root); does nothing when all are there.
#
#   scripts/ensure-debian.sh docker-compose prometheus
#   scripts/ensure-debian.sh kcat          # make connectors-bench's baseline producer
#
# Recommended packages are left out (docker-compose would otherwise bring the Docker engine).
# Under systemd, Debian's `prometheus` package starts a system Prometheus on :9090 when it is
# installed: stop it (`systemctl disable --now prometheus`) before deploy/compose/launch up.
set -euo pipefail

(($#)) || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
missing=()
for package in "$@"; do
  if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
((${#missing[@]})) || exit 0

command -v apt-get >/dev/null || { echo "ensure-debian: no apt-get here; install ${missing[*]} by hand" >&2; exit 1; }
sudo=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "ensure-debian: ${missing[*]} missing, and not root and no sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "ensure-debian: installing ${missing[*]}" >&2
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update -q >&2
"${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2
