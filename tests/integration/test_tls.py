"""TLS and mutual TLS on the gRPC port, through the Python client: what connects, what is
refused, and certificates re-read on reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from orchestrator_client import AsyncOrchestratorClient
from orchestrator_client.errors import OrchestratorError
from orchestrator_server.app import App, StartupError
from orchestrator_server.config import Config
from tests.certs import Certs, make_certs
from tests.helpers import caller_key, make_config, mock_provider, running

REPLY = "hello over tls"


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "pki")


def tls_config(certs: Certs, *, mutual: bool = False) -> Config:
    return make_config(
        mock_provider("a", reply=REPLY),
        server={"address": "127.0.0.1:0", "tls": certs.tls(mutual=mutual)},
    )


async def ask(target: str, **settings: Any) -> str:
    async with AsyncOrchestratorClient(target, timeout=5, **settings) as client:
        return (await client.generate("hi")).text


async def refused(target: str, **settings: Any) -> grpc.StatusCode:
    with pytest.raises(OrchestratorError) as caught:
        await ask(target, **settings)
    return caught.value.code


async def test_tls_serves_a_client_that_trusts_the_ca(certs: Certs) -> None:
    async with running(tls_config(certs)) as server:
        assert await ask(server.target, root_certificates=certs.read("ca")) == REPLY
        # Plaintext on a TLS port, or TLS that does not trust the server's CA: no connection.
        assert await refused(server.target) == grpc.StatusCode.UNAVAILABLE
        other = make_certs(certs.ca.parent / "other")
        assert await refused(server.target, root_certificates=other.read("ca")) == (
            grpc.StatusCode.UNAVAILABLE
        )


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(certs: Certs) -> None:
    roots = certs.read("ca")
    async with running(tls_config(certs, mutual=True)) as server:
        text = await ask(
            server.target,
            root_certificates=roots,
            private_key=certs.read("client_key"),
            certificate_chain=certs.read("client_cert"),
        )
        assert text == REPLY
        assert await refused(server.target, root_certificates=roots) == (
            grpc.StatusCode.UNAVAILABLE
        )
        stranger = make_certs(certs.ca.parent / "stranger")
        status = await refused(
            server.target,
            root_certificates=roots,
            private_key=stranger.read("client_key"),
            certificate_chain=stranger.read("client_cert"),
        )
        assert status == grpc.StatusCode.UNAVAILABLE


async def test_certificates_are_re_read_on_reload(certs: Certs) -> None:
    async with running(tls_config(certs)) as server:
        assert await ask(server.target, root_certificates=certs.read("ca")) == REPLY
        renewed = make_certs(certs.ca.parent / "renewed")
        certs.server_cert.write_bytes(renewed.read("server_cert"))
        certs.server_key.write_bytes(renewed.read("server_key"))
        await server.app.reloader.apply_text(
            server.app.reloader.file_config.model_dump_json(by_alias=True), preserve_metrics=True
        )
        assert await ask(server.target, root_certificates=renewed.read("ca")) == REPLY
        assert await refused(server.target, root_certificates=certs.read("ca")) == (
            grpc.StatusCode.UNAVAILABLE
        )


async def test_a_broken_renewal_keeps_the_last_good_certificate(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tls_config(certs)) as server:
        certs.server_key.write_bytes(make_certs(certs.ca.parent / "x").read("server_key"))
        assert server.app.tls is not None
        assert not server.app.tls.reload()
        assert "keeping the current certificates" in caplog.text
        assert await ask(server.target, root_certificates=certs.read("ca")) == REPLY


@pytest.mark.parametrize("broken", ["missing", "mismatch"])
def test_unusable_certificates_stop_the_start(certs: Certs, broken: str) -> None:
    if broken == "missing":
        certs.server_key.unlink()
    else:
        certs.server_key.write_bytes(certs.read("client_key"))
    with pytest.raises(StartupError, match=r"server\.tls|cannot read"):
        App(tls_config(certs))


async def test_langchain_over_mtls_with_a_caller_key(certs: Certs) -> None:
    from orchestrator_client.langchain import ChatOrchestrator

    key = "orch_langchain-caller-key-0123456789"
    config = make_config(
        mock_provider("a", reply=REPLY),
        server={"address": "127.0.0.1:0", "tls": certs.tls(mutual=True)},
        auth={"keys": [caller_key("lc", key)]},
    )
    async with running(config) as server:
        llm = ChatOrchestrator(
            target=server.target,
            root_certificates=certs.read("ca"),
            private_key=certs.read("client_key").decode(),
            certificate_chain=certs.read("client_cert"),
            auth_token=key,
        )
        assert (await llm.ainvoke("hi")).content == REPLY
