#!/usr/bin/env bash
# Make sure the service's virtualenv exists and matches requirements; print its path.
# It lives outside the clone (NERB_VENV, default ~/.cache/nerb/venv) so clean clones and CI reuse it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${NERB_VENV:-$HOME/.cache/nerb/venv}"
want="$(cat "$repo/requirements.txt" "$repo/requirements-test.txt" "$repo/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.nerb-requirements" 2>/dev/null)" != "$want" ]; then
  echo "[venv] installing dependencies into $venv (first run: a few minutes)" >&2
  start=$(date +%s)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # torch first and pinned to the CPU build: a bare "torch" would pull a multi-GB CUDA build.
  "$venv/bin/pip" install -q "torch==2.13.0" >&2
  "$venv/bin/pip" install -q -r "$repo/requirements-test.txt" -c "$repo/constraints.txt" >&2
  echo "$want" > "$venv/.nerb-requirements"
  echo "[venv] ready in $(( $(date +%s) - start ))s" >&2
fi
echo "$venv"
