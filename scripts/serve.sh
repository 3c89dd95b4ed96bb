#!/usr/bin/env bash
# Run the backend on a bare machine: creates the virtualenv on first use, then starts gunicorn.
# Needs no Redis and no Label Studio; set REDIS_URL to use Redis/RQ. PORT (9090), WORKERS (1), THREADS (8).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$repo/scripts/venv.sh")"
cd "$repo"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "$venv/bin/gunicorn" --preload --bind "${HOST:-0.0.0.0}:${PORT:-9090}" --workers "${WORKERS:-1}" \
  --threads "${THREADS:-8}" --timeout "${GUNICORN_TIMEOUT:-300}" _wsgi:app
