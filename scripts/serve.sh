#!/usr/bin/env bash
# Run the backend on a bare machine: creates the virtualenv on first use, then starts gunicorn.
# Needs no Redis and no Label Studio; set REDIS_URL to use Redis/RQ. PORT (9090), WORKERS (1), THREADS (8).
# gunicorn.conf.py picks the address: HOST, else 127.0.0.1, or 0.0.0.0 once BASIC_AUTH_USER/BASIC_AUTH_PASS (or
# ALLOW_OPEN_NETWORK=true) are set; a HOST beyond loopback without either is refused.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$repo/scripts/venv.sh")"
cd "$repo"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "$venv/bin/gunicorn" --preload --workers "${WORKERS:-1}" \
  --threads "${THREADS:-8}" --timeout "${GUNICORN_TIMEOUT:-300}" _wsgi:app
