#!/usr/bin/env bash
# Run the whole test suite on a bare machine: virtualenvs (cached in ~/.cache/nerb), Redis, a PostgreSQL check, then pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -q
#
# Two tiers (the `slow` marker, pyproject.toml):
#   scripts/test.sh -m "not slow"   the fast tier, for the edit loop (no fine-tuning, containers, load, faults,
#                                   scale or speed scripts)
#   scripts/test.sh                 everything, both tiers (what .ci/run runs)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$repo/scripts/venv.sh")"
cd "$repo"
if ! "$venv/bin/python" -c "import redis; redis.Redis(host='127.0.0.1', port=6379, socket_connect_timeout=1).ping()" 2>/dev/null; then
  if command -v redis-server >/dev/null; then
    echo "[test] starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    sleep 1
  else
    echo "[test] no Redis on 127.0.0.1:6379 and no redis-server to start: Redis tests will fail" >&2
  fi
fi
# The MLflow tracking server of the registry tests keeps its runs in PostgreSQL (127.0.0.1:5432, user postgres, trust).
if ! "$venv/bin/python" -c "import psycopg2; psycopg2.connect(host='127.0.0.1', port=5432, user='postgres', dbname='postgres', connect_timeout=2).close()" 2>/dev/null; then
  echo "[test] no PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): the MLflow registry tests will fail" >&2
fi
if [ "${E2E:-1}" != "0" ] && [ -x "$repo/scripts/ls_env.sh" ]; then
  "$repo/scripts/ls_env.sh"
fi
export HF_HUB_OFFLINE=1
exec "$venv/bin/python" -m pytest "$@"
