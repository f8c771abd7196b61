"""The usage webhook: POSTs `{"events": [...]}` JSON batches (see docs/observability.md)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import aiohttp

from orchestrator_server.config.telemetry import WebhookConfig
from orchestrator_server.domain.redact import register_secret
from orchestrator_server.telemetry.usage import UsageEvent


class WebhookSetupError(Exception):
    pass


class Webhook:
    """`deliver` raises on a transport error or a non-2xx answer, so the worker retries."""

    def __init__(self, config: WebhookConfig) -> None:
        self.url = str(config.url)
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._headers = {"Content-Type": "application/json"}
        for header, env in config.headers_env.items():
            value = os.environ.get(env, "")
            if not value:
                raise WebhookSetupError(
                    f"telemetry.usage.webhook.headers_env.{header}: "
                    f"environment variable {env} is not set"
                )
            register_secret(value)
            self._headers[header] = value
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, batch: Sequence[UsageEvent]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        body = {"events": [event.as_json() for event in batch]}
        # Not following a redirect keeps the token headers from going to another host.
        async with self._session.post(self.url, json=body, allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                raise WebhookRejected(response.status)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookRejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"webhook answered {status}")
        self.status = status
