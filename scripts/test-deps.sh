#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real peers, when they are missing:
# python3-kubernetes (a real WebSocket v4 client of the sandbox), tmux (a real terminal) and
# chromium (a real browser for the web shell's page), asciinema (reads the gateway's recordings)
# and iproute2 (ip: the sandbox brings up each pod's loopback with it).
set -euo pipefail
packages=(python3-kubernetes tmux chromium asciinema iproute2)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "podshell tests need these Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
