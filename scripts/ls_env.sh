#!/usr/bin/env bash
# Ensure a Label Studio 1.23.2 virtualenv and an initialised template data dir exist, both OUTSIDE the clone,
# so end-to-end tests (tests/e2e) can copy the template and start a real server in seconds. Idempotent.
#
#   LS_VENV          virtualenv holding label-studio           (default ~/.cache/nerb/ls-venv)
#   LS_TEMPLATE_DIR  initialised data dir copied per test run  (default ~/.cache/nerb/ls-template-1.23.2)
#   LS_PYTHON        interpreter used to create the venv       (default python3)
#
# The template's credentials are fixed (test-only, loopback-only server); tests/e2e/label_studio.py reads
# them back from $LS_TEMPLATE_DIR/credentials.json.
set -euo pipefail

LS_VERSION=1.23.2
LS_VENV=${LS_VENV:-$HOME/.cache/nerb/ls-venv}
LS_TEMPLATE_DIR=${LS_TEMPLATE_DIR:-$HOME/.cache/nerb/ls-template-$LS_VERSION}
LS_PYTHON=${LS_PYTHON:-python3}
LS_USERNAME=e2e@example.com
LS_PASSWORD=e2e-password-123
LS_USER_TOKEN=0123456789abcdef0123456789abcdef01234567   # 40 hex: the legacy API token

t0=$(date +%s)
log() { echo "ls_env: $*"; }

# Trap: `label-studio --version` prints the version and then STARTS a server on 0.0.0.0:8080 with a default
# data dir in ~/.local/share/label-studio. Ask Python for the version instead.
installed_version() {
    "$LS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null || true
}

if [[ "$(installed_version)" == "$LS_VERSION" ]]; then
    log "venv $LS_VENV already has label-studio $LS_VERSION"
else
    if [[ ! -x "$LS_VENV/bin/python" ]]; then
        log "creating venv $LS_VENV"
        "$LS_PYTHON" -m venv "$LS_VENV"
    fi
    log "installing label-studio==$LS_VERSION into $LS_VENV (about 1 GB, a minute or more)"
    "$LS_VENV/bin/python" -m pip install -q "label-studio==$LS_VERSION"
    [[ "$(installed_version)" == "$LS_VERSION" ]] || { log "install failed"; exit 1; }
fi

if [[ -f "$LS_TEMPLATE_DIR/credentials.json" ]]; then
    log "template $LS_TEMPLATE_DIR already initialised"
else
    # Build in a sibling temp dir and rename, so an interrupted init never leaves a half-made template.
    mkdir -p "$(dirname "$LS_TEMPLATE_DIR")"
    tmp=$(mktemp -d "$LS_TEMPLATE_DIR.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    log "initialising template (runs all migrations, ~30 s) in $tmp"
    # LS reads un-prefixed HOST/PORT/USERNAME/PASSWORD/... too: drop stray ones from the environment.
    env -u HOST -u PORT -u USERNAME -u PASSWORD -u USER_TOKEN -u DATABASE_NAME -u DATABASE_ENGINE \
        -u DJANGO_DB -u DJANGO_SETTINGS_MODULE -u LOG_LEVEL -u DEBUG \
        LABEL_STUDIO_BASE_DATA_DIR="$tmp" XDG_CONFIG_HOME="$tmp/.xdg" \
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true SENTRY_DSN= FRONTEND_SENTRY_DSN= \
        LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false \
        "$LS_VENV/bin/label-studio" init -q --no-browser \
            --username "$LS_USERNAME" --password "$LS_PASSWORD" \
            --user-token "$LS_USER_TOKEN" --enable-legacy-api-token \
            --data-dir "$tmp" >"$tmp/init.log" 2>&1 \
        || { tail -40 "$tmp/init.log"; log "label-studio init failed"; exit 1; }
    cat >"$tmp/credentials.json" <<JSON
{"username": "$LS_USERNAME", "password": "$LS_PASSWORD", "api_key": "$LS_USER_TOKEN", "version": "$LS_VERSION"}
JSON
    rm -rf "$LS_TEMPLATE_DIR"
    mv "$tmp" "$LS_TEMPLATE_DIR"
    trap - EXIT
    log "template ready at $LS_TEMPLATE_DIR"
fi

log "done in $(( $(date +%s) - t0 )) s"
