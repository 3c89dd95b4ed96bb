#!/usr/bin/env bash
# Make sure the service's virtualenv exists and matches requirements; print its path.
# It lives outside the clone (NERB_VENV, default ~/.cache/nerb/venv) so clean clones and CI reuse it.
# TORCH_INDEX_URL (as the Dockerfile's build argument): where torch comes from. Unset: PyTorch's CPU index, so a
# plain install does not pull the multi-GB CUDA build; set it to a CUDA index (…/whl/cu128) for a GPU, or to empty
# to take torch from pip's own configured sources (a mirror, a wheel folder: .ci/run does, for these machines).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${NERB_VENV:-$HOME/.cache/nerb/venv}"
want="$(cat "$repo/requirements.txt" "$repo/requirements-test.txt" "$repo/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.nerb-requirements" 2>/dev/null)" != "$want" ]; then
  echo "[venv] installing dependencies into $venv (first run: a few minutes)" >&2
  start=$(date +%s)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  # torch first, from the CPU index unless told otherwise: a bare "torch" from PyPI is the multi-GB CUDA build.
  torch_index="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
  "$venv/bin/pip" install -q "torch==2.13.0" ${torch_index:+--index-url "$torch_index"} >&2
  "$venv/bin/pip" install -q -r "$repo/requirements-test.txt" -c "$repo/constraints.txt" >&2
  echo "$want" > "$venv/.nerb-requirements"
  echo "[venv] ready in $(( $(date +%s) - start ))s" >&2
fi
echo "$venv"
