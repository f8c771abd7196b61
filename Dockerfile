# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/orchestrator
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients/python ./clients/python
# pip and setuptools are needed only to install; dropping them from the venv keeps them out
# of the runtime image.
RUN /opt/orchestrator/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/orchestrator/bin/pip install --no-cache-dir ./clients/python . \
 && /opt/orchestrator/bin/pip uninstall --yes pip setuptools

FROM python:3.11-slim
RUN groupadd --system --gid 10001 orchestrator \
 && useradd --system --uid 10001 --gid orchestrator --no-create-home orchestrator
COPY --from=build /opt/orchestrator /opt/orchestrator
# Where the server listens (gRPC, and Prometheus' /metrics) unless --address or
# --metrics-address say otherwise; `orchestrator health-check` looks where
# ORCHESTRATOR_LISTEN_ADDRESS says, so the HEALTHCHECK follows a changed port
# (docker run -e ORCHESTRATOR_LISTEN_ADDRESS=0.0.0.0:8080 -p 8080:8080 ...).
ENV PATH=/opt/orchestrator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORCHESTRATOR_LISTEN_ADDRESS=0.0.0.0:50051 \
    ORCHESTRATOR_METRICS_ADDRESS=0.0.0.0:9464
USER 10001:10001
EXPOSE 50051 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["orchestrator", "health-check"]
ENTRYPOINT ["orchestrator"]
CMD ["serve"]
