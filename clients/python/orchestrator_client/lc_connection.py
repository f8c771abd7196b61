"""Where a LangChain class finds the gateway: one sync client, and one async client per
event loop. Shared by the chat model, the retriever and the embeddings."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from orchestrator_client.aio import AsyncOrchestratorClient
from orchestrator_client.base import DEFAULT_TIMEOUT, ClientSettings
from orchestrator_client.connection import DEFAULT_TARGET, RetryPolicy
from orchestrator_client.sync import OrchestratorClient


class Connected(BaseModel):
    """Where the gateway is; one sync client, and one async client per event loop."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: str = DEFAULT_TARGET
    tls: bool = False
    root_certificates: bytes | None = None
    private_key: SecretStr | None = None  # PEM, with certificate_chain: mTLS
    certificate_chain: bytes | None = None
    server_name: str | None = None
    auth_token: SecretStr | None = None  # the gateway caller key
    grpc_metadata: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = DEFAULT_TIMEOUT
    retry: RetryPolicy | None = None

    _client: OrchestratorClient | None = PrivateAttr(default=None)
    _aclient: AsyncOrchestratorClient | None = PrivateAttr(default=None)
    _aloop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)

    def _settings(self) -> ClientSettings:
        return ClientSettings(
            tls=self.tls,
            root_certificates=self.root_certificates,
            private_key=self.private_key.get_secret_value().encode() if self.private_key else None,
            certificate_chain=self.certificate_chain,
            server_name=self.server_name,
            auth_token=self.auth_token.get_secret_value() if self.auth_token else None,
            metadata=self.grpc_metadata,
            timeout=self.timeout,
            retry=self.retry,
        )

    def sync_client(self) -> OrchestratorClient:
        if self._client is None:
            self._client = OrchestratorClient(self.target, **self._settings())
        return self._client

    def async_client(self) -> AsyncOrchestratorClient:
        # A grpc.aio channel belongs to the loop it was made on; asyncio.run() makes new ones.
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            self._aclient = AsyncOrchestratorClient(self.target, **self._settings())
            self._aloop = loop
        return self._aclient

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._aclient is not None and self._aloop is asyncio.get_running_loop():
            await self._aclient.close()
        self._aclient = self._aloop = None
