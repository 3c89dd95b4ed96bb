#!/usr/bin/env bash
# Install what the container tests need (tests/containers): podman and its helpers from Debian, podman-compose from
# PyPI in a virtualenv of its own (NERB_COMPOSE_VENV, default ~/.cache/nerb/podman-compose: Debian 12's 1.0.3 ignores
# stop_grace_period and `healthcheck: disable`). Prints the podman-compose path. Idempotent and quick once done.
set -euo pipefail
packages=(podman runc buildah uidmap fuse-overlayfs mmdebstrap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[container-tools] apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
venv="${NERB_COMPOSE_VENV:-$HOME/.cache/nerb/podman-compose}"
if [ ! -x "$venv/bin/podman-compose" ]; then
  echo "[container-tools] pip install podman-compose==1.6.0 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "podman-compose==1.6.0" >&2
fi
echo "$venv/bin/podman-compose"
