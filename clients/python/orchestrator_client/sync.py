"""The blocking client (grpc's sync channel); thread-safe, like the channel under it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Unpack

import grpc

from orchestrator.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    embed_pb2,
    generate_pb2,
    listing_pb2,
    metrics_pb2,
    orchestrator_service_pb2_grpc,
    retrieve_pb2,
    validate_key_pb2,
)
from orchestrator_client.base import BaseClient, ClientSettings
from orchestrator_client.connection import Budget, RetryPolicy, retry_delay
from orchestrator_client.errors import from_rpc_error
from orchestrator_client.requests import EmbedOptions, GenerateOptions, RetrieveOptions
from orchestrator_client.streaming import StreamState, ended_without_end


class OrchestratorClient(BaseClient):
    """Calls the gateway from blocking code; the same methods as AsyncOrchestratorClient.

    with OrchestratorClient("localhost:50051") as client:
        print(client.generate("Hello").text)
        with client.stream("Tell me more") as stream:
            for text in stream:
                print(text, end="")
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        channel: grpc.Channel | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Unpack[ClientSettings],
    ) -> None:
        super().__init__(target, **settings)
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else self._make_channel()
        self._stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._sleep = sleep

    def _make_channel(self) -> grpc.Channel:
        credentials = self.connection.channel_credentials()
        options = self.connection.channel_options()
        if credentials is None:
            return grpc.insecure_channel(self.target, options=options)
        return grpc.secure_channel(self.target, credentials, options=options)

    def __enter__(self) -> OrchestratorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def generate(
        self,
        prompt: str | None = None,
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        **options: Unpack[GenerateOptions],
    ) -> generate_pb2.GenerateResponse:
        """One completion. Give `prompt`, or `messages=[("system", ...), ("user", ...)]`."""
        request = self._generate_request(prompt, options)
        reply = self._unary("Generate", request, timeout, request_id, metadata)
        assert isinstance(reply, generate_pb2.GenerateResponse)
        return reply

    def stream(
        self,
        prompt: str | None = None,
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        **options: Unpack[GenerateOptions],
    ) -> GenerationStream:
        """A streamed completion: iterate it for the text deltas; afterwards its `usage`,
        `finish_reason`, `attempts` and `end` hold the final figures.

            with client.stream("Tell me more") as stream:
                for text in stream:
                    print(text, end="")

        Leaving the block early cancels the call (so does `close()`, or a stream dropped
        before its end)."""
        request = self._stream_request(prompt, options)
        call_metadata = self._metadata(request_id, metadata)

        def open_call(remaining: float | None) -> Any:
            return self._stub.GenerateStream(request, timeout=remaining, metadata=call_metadata)

        return GenerationStream(open_call, self._budget(timeout), self.retry, self._sleep)

    def embed(
        self,
        inputs: Sequence[str],
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        **options: Unpack[EmbedOptions],
    ) -> embed_pb2.EmbedResponse:
        """One vector per text, in order (`reply.embeddings[i].values`)."""
        request = self._embed_request(inputs, options)
        reply = self._unary("Embed", request, timeout, request_id, metadata)
        assert isinstance(reply, embed_pb2.EmbedResponse)
        return reply

    def validate_key(
        self,
        provider: str | int,
        api_key: str,
        *,
        scope: str = "",
        folder_id: str = "",
        base_url: str = "",
        iam_token: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> validate_key_pb2.ValidateKeyResponse:
        """Checks a provider key; a rejected key is an answer (`valid` False), not an error."""
        request = self._validate_key_request(
            provider, api_key, scope, folder_id, base_url, iam_token
        )
        reply = self._unary("ValidateKey", request, timeout, request_id, metadata)
        assert isinstance(reply, validate_key_pb2.ValidateKeyResponse)
        return reply

    def retrieve(
        self,
        collection: str,
        query: str,
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
        **options: Unpack[RetrieveOptions],
    ) -> retrieve_pb2.RetrieveResponse:
        """The passages of `collection` most relevant to `query`."""
        request = self._retrieve_request(collection, query, options)
        reply = self._unary("Retrieve", request, timeout, request_id, metadata)
        assert isinstance(reply, retrieve_pb2.RetrieveResponse)
        return reply

    def metrics(
        self,
        providers: Sequence[str] = (),
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> metrics_pb2.GetMetricsResponse:
        """The router's view of its providers (all, or those named)."""
        request = self._metrics_request(providers)
        reply = self._unary("GetMetrics", request, timeout, request_id, metadata)
        assert isinstance(reply, metrics_pb2.GetMetricsResponse)
        return reply

    def list_providers(
        self,
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> listing_pb2.ListProvidersResponse:
        """The providers serving now: kind, models, health, circuit state and weight."""
        request = listing_pb2.ListProvidersRequest()
        reply = self._unary("ListProviders", request, timeout, request_id, metadata)
        assert isinstance(reply, listing_pb2.ListProvidersResponse)
        return reply

    def list_models(
        self,
        providers: Sequence[str] = (),
        *,
        refresh: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> listing_pb2.ListModelsResponse:
        """The models each provider offers, named as `GenerateRequest.model` takes them
        ("provider/model"); `refresh` skips the gateway's listing cache."""
        request = listing_pb2.ListModelsRequest(providers=list(providers), refresh=refresh)
        reply = self._unary("ListModels", request, timeout, request_id, metadata)
        assert isinstance(reply, listing_pb2.ListModelsResponse)
        return reply

    def reload_config(
        self,
        *,
        preserve_metrics: bool = True,
        validate_only: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> admin_pb2.ReloadConfigResponse:
        """AdminService.ReloadConfig: the server re-reads its own config file (as on SIGHUP)
        and says what changed; `validate_only` checks it without applying it. AdminService
        is served only with an admin token: the client's `auth_token` must be that token."""
        request = admin_pb2.ReloadConfigRequest(
            preserve_metrics=preserve_metrics, validate_only=validate_only
        )
        reply = self._unary(
            "ReloadConfig", request, timeout, request_id, metadata, stub=self._admin
        )
        assert isinstance(reply, admin_pb2.ReloadConfigResponse)
        return reply

    def _unary(
        self,
        method: str,
        request: object,
        timeout: float | None,
        request_id: str | None,
        metadata: Mapping[str, str] | None,
        *,
        stub: Any = None,
    ) -> object:
        call = getattr(self._stub if stub is None else stub, method)
        call_metadata = self._metadata(request_id, metadata)
        budget = self._budget(timeout)
        calls = 0
        while True:
            calls += 1
            try:
                return call(request, timeout=budget.remaining(), metadata=call_metadata)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, calls=calls)
                delay = retry_delay(self.retry, error, calls, budget)
                if delay is None:
                    raise error from exc
            self._sleep(delay)


class GenerationStream(StreamState):
    """An iterator of text deltas; see OrchestratorClient.stream. Use it as a context
    manager: leaving the block, `close()`, or dropping a stream not read to its end cancels
    the call, and the server stops generating (and paying) at once."""

    def __init__(
        self,
        open_call: Callable[[float | None], Any],
        budget: Budget,
        retry: RetryPolicy | None,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__()
        self._open = open_call
        self._budget = budget
        self._retry = retry
        self._sleep = sleep
        self._call: Any = None
        self._calls = 0
        self._exhausted = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while not self._exhausted:
            if self._call is None:
                self._calls += 1
                self._call = self._open(self._budget.remaining())
            try:
                event = next(self._call)
            except StopIteration:
                self._exhausted = True
                if self.end is None:  # e.g. a proxy that closed the stream cleanly mid-way
                    raise ended_without_end(self._calls) from None
                break
            except grpc.RpcError as exc:
                error = self.failed(from_rpc_error(exc, calls=self._calls))
                delay = (
                    None
                    if self.received_any
                    else retry_delay(self._retry, error, self._calls, self._budget)
                )
                if delay is None:
                    self._exhausted = True
                    raise error from exc
                self._call = None
                self._sleep(delay)
                continue
            text = self.absorb(event)
            if text is not None:
                return text
        raise StopIteration

    def collect(self) -> str:
        """Reads the whole stream; returns the full text."""
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        """Cancels the call if it is still running (the server then stops the upstream)."""
        self._exhausted = True
        call, self._call = self._call, None
        if call is not None:
            call.cancel()

    def __del__(self) -> None:
        # Abandoned (a `break` out of the loop, or just dropped) before its end: stop the
        # server's generation now rather than whenever the call object is collected.
        if not self._exhausted and self._call is not None:
            self.close()

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
