"""Scaffolding every HTTP adapter shares: its spec, its pooled client, its base URL, and
calls that answer non-200 replies through the adapter's own error table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from orchestrator_server.config.providers import HttpProviderBase
from orchestrator_server.domain.embeddings import EmbeddingRequest, Embeddings
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.client import HttpClient, HttpReply
from orchestrator_server.providers.http.errors import error_body
from orchestrator_server.providers.http.tls import TlsOptions


class HttpAdapter:
    def __init__(
        self, spec: ProviderSpec, config: HttpProviderBase, *, default_base_url: str
    ) -> None:
        self._spec = spec
        self.base_url = (config.base_url or default_base_url).rstrip("/")
        self.client = HttpClient(
            spec.name,
            tls=TlsOptions.of(config),
            max_connections=config.max_connections,
            headers=config.headers,
            max_reply_bytes=config.max_reply_bytes,
        )

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    def error(self, status: int | None, headers: Mapping[str, str], body: Any) -> ProviderError:
        """The provider's error table: a status (None inside a 200 stream), the response
        headers and the decoded body, to a ProviderError. Every adapter defines it."""
        raise NotImplementedError

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> Embeddings:
        """Adapters of providers with an embedding endpoint override this; the router never
        calls it on the others (their capabilities say so)."""
        raise ProviderError(
            ErrorKind.INVALID_REQUEST, f"provider kind {self._spec.kind} has no embeddings"
        )

    async def call(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """A whole request; anything but 200 raises through the error table."""
        reply = await self.client.request(
            method, url, timeout=timeout, json_body=json_body, headers=headers, params=params
        )
        if reply.status != 200:
            raise self.error(reply.status, reply.headers, error_body(reply.body))
        return reply

    @asynccontextmanager
    async def open_stream(
        self,
        url: str,
        *,
        timeout: float,
        json_body: Any,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streamed POST whose 200 body the caller reads; anything else raises through
        the error table (error bodies are whole JSON documents, not stream frames)."""
        async with self.client.stream(
            "POST", url, timeout=timeout, json_body=json_body, headers=headers, params=params
        ) as response:
            if response.status != 200:
                raise self.error(
                    response.status,
                    response.headers,
                    error_body(await self.client.read_body(response)),
                )
            yield response

    async def aclose(self) -> None:
        await self.client.aclose()
