# Image of the NER backend: the web service by default; the same image runs the RQ training worker
# (`rq worker --url $REDIS_URL ner-training`) and the optional MLflow UI (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU torch first: requirements.txt pins torch==2.13.0, which the +cpu build satisfies, so pip keeps it
# instead of pulling the multi-GB CUDA build from PyPI.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && python -c "import torch; assert torch.__version__.endswith('+cpu'), torch.__version__"

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

RUN useradd --create-home --uid 1000 --user-group app \
 && mkdir -p /data/models \
 && chown -R app:app /data

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

# A shell expands PORT, WORKERS and THREADS; exec makes gunicorn PID 1 so it gets SIGTERM on `docker stop`.
CMD ["sh", "-c", "exec gunicorn --preload --bind 0.0.0.0:${PORT} --workers ${WORKERS} --threads ${THREADS} --timeout 300 _wsgi:app"]
