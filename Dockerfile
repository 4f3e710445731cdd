# The gateway as a container image.
#
#   docker build -t tongban-gateway:0.1.0 .
#   docker run -p 8080:8080 -p 8443:8443 -v tongban-var:/var/lib/tongban/var tongban-gateway:0.1.0
#
# The image name is the one docs/examples/kubernetes.yaml runs (the tag is the project's version in pyproject.toml).
# It runs as the unprivileged user `tongban`; the working directory is /var/lib/tongban, so the configuration's
# relative `var/` (SQLite store, message log, development credentials of the embedded default) is the volume
# /var/lib/tongban/var. The configuration is /etc/tongban/gateway.toml: the embedded default is copied there, and a
# deployment mounts its own over it (Kubernetes: a ConfigMap; secrets under /etc/tongban/credentials).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 tongban \
    && useradd --system --uid 10001 --gid tongban --home-dir /var/lib/tongban --shell /usr/sbin/nologin tongban

# libxmlsec1 for python-xmlsec (XMLDSig, signing/xmldsig.py): its wheels bundle the library, and these packages
# let pip build it from source where no wheel fits.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libxmlsec1-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tongban
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY signing ./signing
COPY mappings ./mappings
COPY config ./config
RUN pip install --no-cache-dir -e . \
    && mkdir -p /etc/tongban /var/lib/tongban/var \
    && cp config/gateway.toml /etc/tongban/gateway.toml \
    && chown -R tongban:tongban /var/lib/tongban

USER tongban
WORKDIR /var/lib/tongban
VOLUME ["/var/lib/tongban/var"]
EXPOSE 8080 8443

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/tongban/gateway.toml", "--host", "0.0.0.0"]
