#!/usr/bin/env bash
# Build the images the compose stack test runs, with podman, on a machine that reaches no container registry:
#   1. stand-ins for the base images (python:3.11-slim, redis:7-alpine) made from Debian's packages and tagged with
#      the names the Dockerfile and docker-compose.yml use (kept between runs, rebuilt when this script changes);
#   2. the project's image from the unchanged Dockerfile (ner-backend:latest, as docker-compose.yml names it), with
#      torch and every other package from this machine's pip sources (its wheel folder and CA bundle).
# podman's layer cache keeps the dependency layers until the Dockerfile, requirements.txt or constraints.txt change.
# Prints the build time; NERB_IMAGE_FORCE=1 rebuilds the stand-ins.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
key="$(sha256sum "$here/images.sh" | cut -c1-16)"
python_image=docker.io/library/python:3.11-slim
redis_image=docker.io/library/redis:7-alpine

base_key() { podman image inspect --format '{{index .Labels "nerb.stand-in"}}' "$1" 2>/dev/null || true; }

stand_in_python() {
  local work; work="$(mktemp -d)"
  # Like the official image: python and a current pip on PATH (Debian 12's pip 23.0 cannot build some setup.py-only
  # sdists, such as seqeval), no PEP 668 marker, no documentation. pip installs itself from its own wheel, which
  # this machine's pip fetches.
  pip download -q --no-deps --only-binary=:all: -d "$work/wheels" pip
  mmdebstrap --variant=minbase --include=python3,ca-certificates \
    --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-exclude=/usr/share/man/* \
    --dpkgopt=path-exclude=/usr/share/locale/* --dpkgopt=path-exclude=/usr/share/info/* \
    --customize-hook="cp -r '$work/wheels' \"\$1/tmp/wheels\"" \
    --customize-hook='chroot "$1" sh -c "rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED && ln -sf python3 /usr/bin/python && w=\$(echo /tmp/wheels/pip-*.whl) && python3 \$w/pip install -q --no-index --no-cache-dir \$w && rm -rf /tmp/wheels /var/lib/apt/lists/* /var/cache/apt/*"' \
    bookworm "$work/base.tar" >"$work/mmdebstrap.log" 2>&1 || { tail -30 "$work/mmdebstrap.log" >&2; exit 1; }
  podman import -q --change 'CMD ["python3"]' --change "LABEL nerb.stand-in=$key" "$work/base.tar" "$python_image" >/dev/null
  rm -rf "$work"
}

stand_in_redis() {
  local work; work="$(mktemp -d)"
  # The official image's working directory is its /data volume, where --appendonly writes.
  cat >"$work/Containerfile" <<DOCKERFILE
FROM $python_image
RUN apt-get update -q && apt-get install -y -q --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data
WORKDIR /data
LABEL nerb.stand-in=$key
CMD ["redis-server", "--protected-mode", "no"]
DOCKERFILE
  podman build -q --isolation chroot --pull=never --network host --format docker -t "$redis_image" "$work" >/dev/null
  rm -rf "$work"
}

start=$(date +%s)
if [ "${NERB_IMAGE_FORCE:-0}" = 1 ] || [ "$(base_key "$python_image")" != "$key" ]; then
  echo "[images] building the stand-in $python_image" >&2
  stand_in_python
fi
if [ "${NERB_IMAGE_FORCE:-0}" = 1 ] || [ "$(base_key "$redis_image")" != "$key" ]; then
  echo "[images] building the stand-in $redis_image" >&2
  stand_in_redis
fi
bases=$(date +%s)

# This machine's pip sources, mounted read-only into the build: its wheel folder holds the CPU torch wheel, so torch
# comes from pip's default index plus that folder instead of the PyTorch index (TORCH_BUILD=cpu keeps the check).
wheels="${PIP_FIND_LINKS:-$(pip config get global.find-links 2>/dev/null || true)}"
cert="${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}"
cert="${cert:-/etc/ssl/certs/ca-certificates.crt}"
args=(--build-arg TORCH_INDEX_URL= --build-arg TORCH_BUILD=cpu --build-arg PIP_CERT=/run/pip/cert.pem
      -v "$cert:/run/pip/cert.pem:ro")
if [ -n "$wheels" ] && [ -d "$wheels" ]; then
  args+=(--build-arg PIP_FIND_LINKS=/run/pip/wheels -v "$wheels:/run/pip/wheels:ro")
fi
# The app image is rebuilt only when what goes into it changed: the Dockerfile, the requirements or an app file.
app_key="$( (podman image inspect --format '{{.Id}}' "$python_image"; cd "$repo" && git ls-files -co --exclude-standard -z \
  -- . ':!tests' ':!bench' ':!scripts' ':!.ci' ':!*.md' ':!docker-compose.yml' | sort -z | xargs -0 sha256sum) \
  | sha256sum | cut -c1-16)"
if [ "${NERB_IMAGE_FORCE:-0}" != 1 ] \
   && [ "$(podman image inspect --format '{{index .Labels "nerb.build"}}' localhost/ner-backend:latest 2>/dev/null)" = "$app_key" ]; then
  echo "[images] ner-backend:latest is up to date ($app_key)" >&2
  exit 0
fi
echo "[images] building ner-backend:latest" >&2
build=(podman build --isolation chroot --pull=never --network host --format docker --layers "${args[@]}")
# The build stage gets a tag of its own, so pruning untagged images below keeps its cached layers.
"${build[@]}" --target build -t localhost/ner-backend-build:latest "$repo" >&2
"${build[@]}" --label "nerb.build=$app_key" -t localhost/ner-backend:latest "$repo" >&2
# Earlier builds of the app image lose their tag; drop them (podman keeps the cached layers still in use).
podman image prune -f >/dev/null 2>&1 || true
echo "[images] stand-in bases $((bases - start))s, app image $(( $(date +%s) - bases ))s" >&2
