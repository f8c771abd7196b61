"""What the async and sync clients share: settings, request building, per-call metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

import grpc

from orchestrator.v1 import (
    embed_pb2,
    generate_pb2,
    metrics_pb2,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_client import requests
from orchestrator_client.connection import (
    DEFAULT_TARGET,
    Budget,
    CallMetadata,
    Connection,
    RetryPolicy,
)

DEFAULT_TIMEOUT = 60.0


class ClientSettings(TypedDict, total=False):
    """How a client connects; see AsyncOrchestratorClient for what each means."""

    tls: bool
    root_certificates: bytes | None
    private_key: bytes | None
    certificate_chain: bytes | None
    credentials: grpc.ChannelCredentials | None
    server_name: str | None
    auth_token: str | None
    metadata: Mapping[str, str]
    tenant: str
    user: str
    timeout: float | None
    retry: RetryPolicy | None
    load_balancing: str | None
    options: Sequence[tuple[str, Any]]


class BaseClient:
    """Settings common to both clients."""

    def __init__(self, target: str = DEFAULT_TARGET, **settings: Unpack[ClientSettings]) -> None:
        self.connection = Connection(
            target=target,
            tls=settings.get("tls", False),
            root_certificates=settings.get("root_certificates"),
            private_key=settings.get("private_key"),
            certificate_chain=settings.get("certificate_chain"),
            credentials=settings.get("credentials"),
            server_name=settings.get("server_name"),
            auth_token=settings.get("auth_token"),
            metadata=dict(settings.get("metadata", {})),
            load_balancing=settings.get("load_balancing"),
            options=tuple(settings.get("options", ())),
        )
        self.tenant = settings.get("tenant", "")
        self.user = settings.get("user", "")
        self.timeout = settings.get("timeout", DEFAULT_TIMEOUT)
        self.retry = settings.get("retry")

    @property
    def target(self) -> str:
        return self.connection.target

    def _budget(self, timeout: float | None) -> Budget:
        return Budget(self.timeout if timeout is None else timeout)

    def _metadata(self, request_id: str | None, metadata: Mapping[str, str] | None) -> CallMetadata:
        return self.connection.call_metadata(request_id, metadata)

    def _generate_request(
        self, prompt: str | None, options: requests.GenerateOptions
    ) -> generate_pb2.GenerateRequest:
        return requests.generate_request(prompt, options, tenant=self.tenant, user=self.user)

    def _stream_request(
        self, prompt: str | None, options: requests.GenerateOptions
    ) -> generate_pb2.GenerateStreamRequest:
        return requests.stream_request(self._generate_request(prompt, options))

    def _embed_request(
        self, inputs: Sequence[str], options: requests.EmbedOptions
    ) -> embed_pb2.EmbedRequest:
        return requests.embed_request(inputs, options, tenant=self.tenant, user=self.user)

    @staticmethod
    def _validate_key_request(
        provider: str | int,
        api_key: str,
        scope: str,
        folder_id: str,
        base_url: str,
        iam_token: bool,
    ) -> validate_key_pb2.ValidateKeyRequest:
        return requests.validate_key_request(
            provider,
            api_key,
            scope=scope,
            folder_id=folder_id,
            base_url=base_url,
            iam_token=iam_token,
        )

    @staticmethod
    def _retrieve_request(
        collection: str, query: str, options: requests.RetrieveOptions
    ) -> retrieve_pb2.RetrieveRequest:
        return requests.retrieve_request(collection, query, **options)

    @staticmethod
    def _metrics_request(providers: Sequence[str]) -> metrics_pb2.GetMetricsRequest:
        return requests.metrics_request(providers)
