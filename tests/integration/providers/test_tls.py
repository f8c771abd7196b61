"""TLS to providers: verification on by default, a CA bundle for private roots (GigaChat's
Russian Trusted Root CA is the case in practice), and a loud warning when it is off."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import trustme

from orchestrator.v1 import generate_pb2
from tests.emulators.openai import OpenAIEmulator
from tests.helpers import http_provider, make_config, running, trail


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_emulator(authority: trustme.CA) -> AsyncIterator[OpenAIEmulator]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    emulator = OpenAIEmulator()
    await emulator.start(tls=context)
    try:
        yield emulator
    finally:
        await emulator.stop()


def provider(emulator: OpenAIEmulator, **tls: object) -> dict[str, object]:
    return http_provider("openai", "private-ca", f"{emulator.base_url}/v1", model="m", **tls)


async def test_a_private_root_fails_verification_by_default(
    https_emulator: OpenAIEmulator,
) -> None:
    async with running(make_config(provider(https_emulator))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    [attempt] = trail(caught.value).attempts  # type: ignore[union-attr]
    assert attempt.error_code == "unavailable"
    assert "TLS verification" in attempt.message
    assert https_emulator.requests == []  # nothing was sent over the unverified connection


async def test_ca_bundle_trusts_the_private_root(
    https_emulator: OpenAIEmulator, authority: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "root.pem"
    authority.cert_pem.write_to_path(str(bundle))
    async with running(make_config(provider(https_emulator, ca_bundle=str(bundle)))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "private-ca"


async def test_verification_off_works_and_warns(
    https_emulator: OpenAIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with running(make_config(provider(https_emulator, verify_ssl=False))) as server:
            reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
    assert reply.provider == "private-ca"
    assert any("verification is OFF" in r.getMessage() for r in caplog.records)


def test_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    from orchestrator_server.config import ConfigError, parse_config

    text = f"""
providers:
  - {{name: p, kind: openai, model: m, ca_bundle: {tmp_path / "absent.pem"}}}
"""
    with pytest.raises(ConfigError, match=r"providers\[0\]\.ca_bundle"):
        parse_config(text)


def test_unusable_ca_bundle_is_a_startup_error(tmp_path: Path) -> None:
    from orchestrator_server.app import App, StartupError

    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    config = make_config(http_provider("openai", "p", "https://x", model="m", ca_bundle=str(bad)))
    with pytest.raises(StartupError, match=r"providers\[0\]\.ca_bundle"):
        App(config)
