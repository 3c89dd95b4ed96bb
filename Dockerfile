# Image of the NER backend: the web service by default; the same image runs the RQ training worker
# (`rq worker --url $REDIS_URL ner-training`) and the optional MLflow UI (see docker-compose.yml).
# Build arguments (all optional; README, "With Docker Compose"): TORCH_INDEX_URL and TORCH_BUILD choose torch's
# build, PIP_INDEX_URL / PIP_FIND_LINKS / PIP_CERT point pip at a mirror, a folder of wheels or a company CA.

# --- build: every dependency in a virtualenv, less what serving and training never read ---------------------------
FROM python:3.11-slim AS build

# The base image's pip installs into a virtualenv that has no pip of its own (PIP_PYTHON is pip's --python), and
# compiles no bytecode: 375 MB for all packages, of which a process imports a third (see PYTHONPYCACHEPREFIX below).
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PYTHON=/opt/venv/bin/python \
    PATH=/opt/venv/bin:$PATH

# Where torch comes from: the PyTorch CPU index by default; a CUDA index (e.g. https://download.pytorch.org/whl/cu128)
# for a GPU worker; empty: pip's own sources (PIP_INDEX_URL, PIP_FIND_LINKS), e.g. a mirror or a wheel folder.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The build torch must report after its "+" (cpu, cu128): by default the index URL's last part; with an empty
# TORCH_INDEX_URL nothing is checked unless this is set.
ARG TORCH_BUILD=
# pip's own settings, seen by this stage's pip only: the final image keeps neither them nor any mounted file.
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT

RUN python -m venv --without-pip /opt/venv

# torch first: requirements.txt pins torch==2.13.0, which the chosen build satisfies, so pip keeps it instead of
# pulling PyPI's multi-GB CUDA build.
RUN pip install torch==2.13.0 --no-compile ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
 && index="${TORCH_INDEX_URL%/}" \
 && python -c "import sys, torch; v, b = torch.__version__, sys.argv[1]; assert not b or v.endswith('+' + b), f'torch {v} is not the +{b} build'" \
      "${TORCH_BUILD:-${index##*/}}"

# strip, for the shared libraries' symbol tables (Debian's binutils; only this stage has it).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*

COPY requirements.txt constraints.txt ./
# Then drop what no process of the image reads (sizes in the README, "Image size"): the test suites of torch (C++
# test binaries), pandas and pyarrow (numpy's and scipy's are imported at run time), C++ headers, protoc, the symbol
# tables of torch's two big libraries (strip, as Debian's packages do; not the libraries that auditwheel patched,
# such as numpy's OpenBLAS, which stripping breaks), and OpenCV, which label-studio-sdk requires for its brush-mask
# converter, which nothing here imports.
RUN pip install -r requirements.txt -c constraints.txt --no-compile \
 && pip uninstall -q -y opencv-python-headless \
 && site=/opt/venv/lib/python3.11/site-packages \
 && rm -rf "$site"/torch/test "$site"/pandas/tests "$site"/pyarrow/tests "$site"/torch/include \
      "$site"/torch/bin/*Test "$site"/torch/bin/protoc* "$site"/torch/share/cmake \
 && strip --strip-unneeded "$site"/torch/lib/libtorch_cpu.so "$site"/torch/lib/libtorch_python.so

# --- the image: the virtualenv and the app on a clean base -------------------------------------------------------
FROM python:3.11-slim

# Bytecode of what a container imports is compiled on its first start into its own writable layer, not shipped.
ENV PYTHONPYCACHEPREFIX=/home/app/.cache/pycache \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

RUN useradd --create-home --uid 1000 --user-group app \
 && mkdir -p /data/models \
 && chown -R app:app /data

COPY --from=build /opt/venv /opt/venv
COPY . .

# The model store and MLflow's database and artifacts live under MODEL_DIR, on the /data volume.
ENV HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    MODEL_DIR=/data/models \
    PORT=9090 \
    WORKERS=1 \
    THREADS=8
VOLUME ["/data"]
EXPOSE 9090

USER app

# /health needs credentials when basic auth is on: send BASIC_AUTH_USER/PASS when they are set.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import base64, os, urllib.request as r; q = r.Request('http://127.0.0.1:%s/health' % os.environ.get('PORT', '9090')); u = os.environ.get('BASIC_AUTH_USER'); u and q.add_header('Authorization', 'Basic ' + base64.b64encode((u + ':' + os.environ.get('BASIC_AUTH_PASS', '')).encode()).decode()); r.urlopen(q, timeout=8)"]

# A shell expands WORKERS and THREADS; exec makes gunicorn PID 1 so it gets SIGTERM on `docker stop`. gunicorn.conf.py
# binds HOST:PORT: with BASIC_AUTH_USER/BASIC_AUTH_PASS (or ALLOW_OPEN_NETWORK=true) every interface, which a
# published port needs; without them 127.0.0.1 only, unreachable from outside the container (the log says so).
CMD ["sh", "-c", "exec gunicorn --preload --workers ${WORKERS} --threads ${THREADS} --timeout 300 _wsgi:app"]
