"""Scaffolding every HTTP adapter shares: its spec, its pooled client and its base URL."""

from __future__ import annotations

from orchestrator_server.config.providers import HttpProviderBase
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.providers.http.client import HttpClient, TlsOptions


class HttpAdapter:
    def __init__(
        self, spec: ProviderSpec, config: HttpProviderBase, *, default_base_url: str
    ) -> None:
        self._spec = spec
        self.base_url = (config.base_url or default_base_url).rstrip("/")
        self.client = HttpClient(
            spec.name,
            tls=TlsOptions(verify=config.verify_ssl, ca_bundle=config.ca_bundle),
            max_connections=config.max_connections,
            headers=config.headers,
        )

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def aclose(self) -> None:
        await self.client.aclose()
