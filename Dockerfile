# Image of the scoring service: the `scorer` and `feast` commands plus the demo Feast repository.
#   docker build -t feast-scorer .
#   docker run --rm -p 8000:8000 -e SCORER_ONLINE_STORE=redis-host:6379 feast-scorer
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# LightGBM's wheel links against OpenMP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 scorer \
    && useradd --system --uid 10001 --gid scorer --create-home --home-dir /home/scorer \
        --shell /usr/sbin/nologin scorer

WORKDIR /tmp/src

# Third-party dependencies first, read from pyproject.toml alone: this layer is rebuilt only when
# pyproject.toml changes, not on every edit of the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Then the project itself (a regular, non-editable install into site-packages).
COPY pyproject.toml README.md ./
COPY features/ features/
COPY scoring/ scoring/
COPY drift/ drift/
COPY jobs/ jobs/
RUN pip install --no-cache-dir --no-deps . \
    && scorer --help > /dev/null \
    && feast version > /dev/null \
    && python -c "import lightgbm" \
    && rm -rf /tmp/src

WORKDIR /app

# The Feast repository (definitions and feature_store.yaml; its data/ folder is excluded from the
# build context). feature_repo/data holds the Feast registry and the Parquet sources and
# /var/lib/scorer the model registry and logs: both are created here owned by the service user so
# that volumes mounted on them start with that owner.
COPY feature_repo/ feature_repo/
RUN mkdir -p /app/feature_repo/data /var/lib/scorer \
    && chown scorer:scorer /app/feature_repo/data /var/lib/scorer

ENV SCORER_FEATURE_REPO=/app/feature_repo \
    SCORER_DATA_DIR=/var/lib/scorer \
    SCORER_ONLINE_STORE=127.0.0.1:6379 \
    SCORER_HOST=0.0.0.0 \
    SCORER_PORT=8000

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('SCORER_PORT', '8000'), timeout=4)"]

CMD ["scorer", "serve", "--host", "0.0.0.0"]
