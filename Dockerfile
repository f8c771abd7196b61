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
ENV PATH=/opt/orchestrator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["orchestrator", "health-check", "--address", "127.0.0.1:50051"]
ENTRYPOINT ["orchestrator"]
CMD ["serve", "--address", "0.0.0.0:50051"]
