# Two stages: the first builds the service and its dependencies into a virtual environment,
# the second copies only that environment onto a slim Python and runs it as a user without
# privileges. Used by docker-compose.yml for the bot, the workers and the one-shot steps.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/bgbot
ENV PATH=/opt/bgbot/bin:$PATH
WORKDIR /src
# The dependencies first, from pyproject.toml alone, so that a code change reuses their layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt
COPY bot bot
COPY services services
COPY workers workers
COPY db db
RUN pip install --no-deps .
# numba compiles pymatting's code on first import and caches it beside the package: do it
# here, so no container spends its first minute compiling (the cache travels with the venv).
RUN python -c "import pymatting"

FROM python:3.11-slim AS runtime
# libgomp: the OpenMP runtime onnxruntime's CPU kernels load.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bgbot \
    && useradd --system --uid 10001 --gid bgbot --home-dir /app --shell /usr/sbin/nologin bgbot \
    && mkdir -p /app /data/models \
    && chown -R bgbot:bgbot /app /data
COPY --from=build /opt/bgbot /opt/bgbot
ENV PATH=/opt/bgbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    MODELS_DIR=/data/models \
    HTTP_HOST=0.0.0.0
WORKDIR /app
# A fresh named volume on /data takes this directory's owner, so the service can write to it.
VOLUME ["/data"]
USER bgbot:bgbot
EXPOSE 8080
CMD ["bgbot", "run"]
