# SecretsAdmin's production image: gunicorn serving the web app by default; the same image runs the RQ workers,
# the scheduler and the migrations with another command (docker-compose.yml, deploy/kubernetes/).
#
#   docker build -t secretsadmin:latest .
#
# Linted by hadolint in tests/deploy/test_dockerfile.py (no Docker engine is needed for that).

# The base is pinned to a Python patch release and a Debian release; bump both stages together.
FROM python:3.11.15-slim-trixie AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compilers for any pinned dependency that has no wheel for the target platform. They stay in this stage:
# the final image copies the finished virtualenv only.
# DL3008 (pin apt package versions) reviewed: this stage is thrown away and the base tag already fixes the
# Debian release; exact Debian versions vanish from the mirrors at point releases and would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Every runtime dependency, transitive ones included, is pinned exactly in requirements.txt.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip check


FROM python:3.11.15-slim-trixie AS runtime

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="SecretsAdmin" \
      org.opencontainers.image.description="Governs the secrets kept in AWS Secrets Manager, Vault/OpenBao, Azure Key Vault and Google Secret Manager" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.15-slim-trixie"

# No .pyc written at run time (the root filesystem is read-only in Kubernetes; the code is compiled below),
# logs unbuffered, the production configuration unless told otherwise.
# DL3064 (sensitive data in ENV) reviewed: it matches the name SECRETSADMIN_ENV, which selects
# config/production.toml and holds no secret; secrets come in at run time as *_FILE paths.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    SECRETSADMIN_ENV=production

# A fixed, unprivileged UID/GID, so that Kubernetes' runAsNonRoot can verify it and mounted secret files
# can be given to it (fsGroup). No home directory: nothing may write outside the mounted temporary dirs.
RUN groupadd --system --gid 10001 secretsadmin \
    && useradd --system --uid 10001 --gid secretsadmin --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin secretsadmin

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# .dockerignore lets in only what the application needs at run time (an allow-list): never deploy/secrets.
COPY . /app

# Static files are collected at build time (WhiteNoise serves them with hashed names). The production settings
# refuse to load without a strong secret key, allowed hosts, a database and Redis: collectstatic touches none
# of them, so it gets throwaway values that exist only in this RUN's environment (a key generated here and
# never stored, names that cannot resolve) and are not in any layer or in the image's configuration.
RUN metrics_dir="$(mktemp -d)" \
    && SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
       ALLOWED_HOSTS=build.invalid \
       DATABASE_URL=sqlite:///:memory: \
       REDIS_URL=redis://build.invalid:6379/0 \
       PROMETHEUS_MULTIPROC_DIR="$metrics_dir" \
       python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf "$metrics_dir" \
    && python -m compileall -q -j 0 .

USER 10001:10001
EXPOSE 8000

# Liveness of the web server (the worker and scheduler services define their own checks).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

# gunicorn serves the web app; another command runs a management command instead, e.g.
# `docker run --entrypoint python IMAGE manage.py migrate --noinput`.
ENTRYPOINT ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"]
CMD ["secretsadmin.wsgi:application"]
