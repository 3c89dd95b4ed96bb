#!/usr/bin/env bash
# Build the images the compose stack test runs, with podman, on a machine that reaches no container registry:
#   1. stand-ins for the base images made from Debian's packages and tagged with the names the Dockerfile and
#      docker-compose.yml use: python:3.11-slim, redis:7-alpine, postgres:16-alpine (each kept between runs and
#      rebuilt only when the function that makes it changes: its key is a hash of that function's text);
#   2. the project's image from the unchanged Dockerfile (ner-backend:latest, as docker-compose.yml names it), with
#      torch and every other package from this machine's pip sources (its wheel folder and CA bundle).
# podman's layer cache keeps the dependency layers until the Dockerfile, requirements.txt or constraints.txt change.
# Prints the build times; NERB_IMAGE_FORCE=1 rebuilds everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
python_image=docker.io/library/python:3.11-slim
redis_image=docker.io/library/redis:7-alpine
postgres_image=docker.io/library/postgres:16-alpine

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
  podman import -q --change 'CMD ["python3"]' --change "LABEL nerb.stand-in=$1" "$work/base.tar" "$python_image" >/dev/null
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
LABEL nerb.stand-in=$1
CMD ["redis-server", "--protected-mode", "no"]
DOCKERFILE
  podman build -q --isolation chroot --pull=never --network host --format docker -t "$redis_image" "$work" >/dev/null
  rm -rf "$work"
}

stand_in_postgres() {
  local work; work="$(mktemp -d)"
  # Debian's PostgreSQL (15 on bookworm) behind an entrypoint that does what the official image's does for
  # docker-compose.yml: on an empty data volume, initdb with POSTGRES_USER and POSTGRES_PASSWORD (password logins
  # from any address) and create POSTGRES_DB; then run the server as the postgres user. The package's own cluster
  # is dropped and its service never started (policy-rc.d). pg_isready (the healthcheck) is on PATH.
  cat >"$work/docker-entrypoint.sh" <<'SCRIPT'
#!/bin/sh
set -eu
if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?is required (as by the official image)}"
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  password_file="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  initdb -D "$PGDATA" --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\" OWNER \"$user\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
  echo "stand-in entrypoint: initialised $PGDATA (user $user, database $database)"
fi
exec "$@"
SCRIPT
  cat >"$work/Containerfile" <<DOCKERFILE
FROM $python_image
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 \
 && { pg_dropcluster 15 main 2>/dev/null || true; } \
 && rm -rf /etc/postgresql/15 /var/lib/postgresql/15 /usr/sbin/policy-rc.d /var/lib/apt/lists/* \
 && test -x /usr/lib/postgresql/15/bin/postgres
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p "\$PGDATA" && chown postgres:postgres "\$PGDATA"
VOLUME /var/lib/postgresql/data
LABEL nerb.stand-in=$1
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
DOCKERFILE
  podman build -q --isolation chroot --pull=never --network host --format docker -t "$postgres_image" "$work" >/dev/null
  rm -rf "$work"
}

# A stand-in's key: the text of the function that makes it (and of the python base it starts from).
key_of() { declare -f "$1" | sha256sum | cut -c1-16; }
label_of() { podman image inspect --format '{{index .Labels "nerb.stand-in"}}' "$1" 2>/dev/null || true; }
ensure() {
  local image="$1" function="$2" key="$3"
  if [ "${NERB_IMAGE_FORCE:-0}" = 1 ] || [ "$(label_of "$image")" != "$key" ]; then
    echo "[images] building the stand-in $image ($key)" >&2
    "$function" "$key"
  fi
}

start=$(date +%s)
python_key="$(key_of stand_in_python)"
ensure "$python_image" stand_in_python "$python_key"
ensure "$redis_image" stand_in_redis "$(echo "$python_key $(key_of stand_in_redis)" | sha256sum | cut -c1-16)"
ensure "$postgres_image" stand_in_postgres "$(echo "$python_key $(key_of stand_in_postgres)" | sha256sum | cut -c1-16)"
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
  echo "[images] stand-in bases $((bases - start))s; ner-backend:latest is up to date ($app_key)" >&2
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
