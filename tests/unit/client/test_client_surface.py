"""Every RPC of the service has a method on both clients; the names come from the descriptor,
so a new RPC without a client method fails here."""

from __future__ import annotations

import inspect
import re

import grpc
import pytest

from orchestrator.v1 import orchestrator_service_pb2
from orchestrator_client import AsyncOrchestratorClient, OrchestratorClient, RetryPolicy
from orchestrator_client.errors import ConnectError, InternalError, Unavailable, from_status

SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
# Where the method name is not the RPC name in snake_case.
RENAMED = {"GenerateStream": "stream", "GetMetrics": "metrics"}


def method_name(rpc: str) -> str:
    return RENAMED.get(rpc) or re.sub(r"(?<!^)(?=[A-Z])", "_", rpc).lower()


@pytest.mark.parametrize("rpc", [m.name for m in SERVICE.methods])
@pytest.mark.parametrize("client", [AsyncOrchestratorClient, OrchestratorClient])
def test_every_rpc_has_a_client_method(rpc: str, client: type) -> None:
    method = getattr(client, method_name(rpc), None)
    assert callable(method), f"{client.__name__} has no method for {rpc}"
    streaming = SERVICE.methods_by_name[rpc].server_streaming
    if client is AsyncOrchestratorClient and not streaming:
        assert inspect.iscoroutinefunction(method)
    assert "timeout" in inspect.signature(method).parameters


def test_the_service_has_the_five_original_rpcs() -> None:
    names = {m.name for m in SERVICE.methods}
    assert {"Generate", "GenerateStream", "ValidateKey", "Retrieve", "GetMetrics"} <= names


def test_garbled_status_details_still_give_the_status() -> None:
    error = from_status(grpc.StatusCode.INTERNAL, "boom", [("grpc-status-details-bin", b"\xff")])
    assert isinstance(error, InternalError)
    assert error.message == "boom"


def test_unavailable_from_another_domain_is_a_connect_error() -> None:
    error = from_status(grpc.StatusCode.UNAVAILABLE, "no healthy upstream", [])
    assert isinstance(error, ConnectError)


def test_retry_policy_gives_up_when_the_wait_outlasts_the_deadline() -> None:
    error = Unavailable(grpc.StatusCode.UNAVAILABLE, "down", retry_after=2.0)
    policy = RetryPolicy(max_attempts=5)
    assert policy.delay(error, calls=1, remaining=10.0) == 2.0
    assert policy.delay(error, calls=1, remaining=1.0) is None
    assert policy.delay(error, calls=5, remaining=None) is None


def test_backoff_grows_and_is_capped() -> None:
    error = Unavailable(grpc.StatusCode.UNAVAILABLE, "down")
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=0.5)
    # rng 1.0: the largest jitter, so the delay is the cap of each step
    delays = [policy.delay(error, calls=n, remaining=None, rng=lambda: 1.0) for n in (1, 2, 3, 4)]
    assert delays == [0.1, 0.2, 0.4, 0.5]
