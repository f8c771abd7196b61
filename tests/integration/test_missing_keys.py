"""A provider whose key variable is unset: by default the server does not start (one clear
error naming the key path); with `on_missing_key: disable` it starts without that provider
and says so loudly."""

from __future__ import annotations

import logging

import pytest

from orchestrator.v1 import generate_pb2, listing_pb2
from orchestrator_server.app import App, StartupError
from tests.helpers import http_provider, make_config, mock_provider, running

UNSET = "ORCHESTRATOR_TEST_SURELY_UNSET"


def keyed(name: str, **fields: str) -> dict[str, object]:
    return http_provider(
        "openai", name, "http://127.0.0.1:9/v1", model="gpt-4o-mini", api_key_env=UNSET, **fields
    )


def test_by_default_a_missing_key_stops_the_start() -> None:
    with pytest.raises(StartupError) as caught:
        App(make_config(mock_provider("m"), keyed("openai")))
    assert str(caught.value) == f"providers[1].api_key_env: environment variable {UNSET} is not set"


async def test_on_missing_key_disable_starts_without_it(caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(
        mock_provider("m", reply="still here"),
        keyed("openai", on_missing_key="disable"),
        aliases={"chat": ["openai", "m"]},
    )
    with caplog.at_level(logging.WARNING):
        async with running(config) as server:
            listed = await server.stub.ListProviders(listing_pb2.ListProvidersRequest())
            reply = await server.stub.Generate(
                generate_pb2.GenerateRequest(prompt="hi", model="chat")
            )
    assert [p.name for p in listed.providers] == ["m"]
    assert reply.text == "still here"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"provider openai is DISABLED: providers[1].api_key_env: environment variable {UNSET} "
        "is not set (on_missing_key: disable)" in w
        for w in warnings
    ), warnings
