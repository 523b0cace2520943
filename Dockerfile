# One image for every service; the command picks which one runs:
#   docker run --rm -p 8080:8080 bookstore:dev python -m bff_book
#   docker run --rm bookstore:dev python -m libcommon.migrate svc_book
# Build: docker build -t bookstore:dev .
# No secrets or .env files go into the image (.dockerignore is an allow-list); all
# configuration comes from the environment at run time.

# The newest 3.11 patch release (3.11.15, March 2026). Pin it by digest for a release build:
# `scripts/pin-base-image.sh` resolves the tag's digest (needs registry access) and rewrites
# this line to python:3.11.15-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# The runtime stage copies this virtualenv, so both stages use the same path and base image.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: source edits do not re-download them. Both the
# runtime lock and the build backend's lock are hash-checked (`make lock` writes them).
COPY requirements/runtime.lock requirements/build.lock ./requirements/
RUN pip install --no-cache-dir --require-hashes --no-deps --requirement requirements/runtime.lock \
    && pip install --no-cache-dir --require-hashes --no-deps --requirement requirements/build.lock
# Only the allow-listed paths in .dockerignore (pyproject.toml and the packages) arrive here.
COPY . ./
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
# deploy.sh passes the commit: docker build --build-arg VCS_REF=$(git rev-parse HEAD)
ARG VCS_REF=unknown
# and the repository URL: --build-arg SOURCE_URL=$(git remote get-url origin)
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="bookstore" \
      org.opencontainers.image.description="Bookstore services: python -m svc_book | svc_customer | crm | bff_book | bff_customer | recommender" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${VCS_REF}"
# Numeric UID/GID so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app \
    && mkdir -p /app/var \
    && chown 10001:10001 /app/var
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0
# Relative default paths (var/*.db, var/mail, var/breaker) resolve under /app/var, the only
# writable place in the image; Kubernetes mounts emptyDirs and runs with a read-only root.
WORKDIR /app
USER 10001:10001
EXPOSE 3000 3001 3002 3003 8080 8081
CMD ["python", "-m", "bff_book"]
