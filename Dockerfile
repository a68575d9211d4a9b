# syntax=docker/dockerfile:1
# videofactory, CPU image: the API, migrate, the cpu workers, Flower and the reconciler (and the
# gpu workers on a host without a GPU, see docker-compose.cpu-only.yml).
#   docker build -t videofactory:cpu .
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# What scripts/setup.sh installs on a host: ffmpeg, espeak-ng (its C library is used directly),
# Noto fonts for every script, emoji and DejaVu; curl for health checks.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ffmpeg espeak-ng libespeak-ng1 \
      fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji fonts-dejavu-core \
      curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# PyTorch's CPU build first: openai-whisper would otherwise pull the multi-gigabyte CUDA one.
ARG TORCH_SPEC=torch==2.13.0
RUN pip install --index-url https://download.pytorch.org/whl/cpu "${TORCH_SPEC}"

# The dependencies on their own layer, so that a code change does not reinstall them.
WORKDIR /app
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Editable, like scripts/setup.sh: store/migrate.py finds alembic/ next to the packages.
COPY . .
RUN pip install --no-deps -e .

# A non-root user. The volumes mounted under /data start with this ownership.
RUN useradd --create-home --uid 10001 --user-group videofactory \
 && mkdir -p /data/media /data/exports /data/models \
 && chown -R videofactory:videofactory /data
USER videofactory
ENV DATA_DIR=/data

CMD ["videofactory", "--help"]
