"""Usage events through a real server: one per attempt to an in-process hook and to a
webhook, a cancelled stream's consumed usage, and a hanging webhook that slows nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from orchestrator.v1 import generate_pb2
from orchestrator_server.app import App, StartupError
from orchestrator_server.config import Config
from orchestrator_server.telemetry.setup import Telemetry
from orchestrator_server.telemetry.usage import UsageEvent
from tests.helpers import make_config, mock_provider, running

META = generate_pb2.RequestMetadata(tenant="acme", user="u-1", tags=["search"])


class Collected:
    """An in-process hook that sets `arrived` once `expected` events came."""

    def __init__(self, expected: int) -> None:
        self.events: list[UsageEvent] = []
        self.expected = expected
        self.arrived = asyncio.Event()

    def __call__(self, event: UsageEvent) -> None:
        self.events.append(event)
        if len(self.events) >= self.expected:
            self.arrived.set()


class WebhookEmulator:
    """Records POSTed batches; `hang` makes every POST wait until `release` is set."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.posts = 0
        self.headers: dict[str, str] = {}
        self.fail_next = 0
        self.hang = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.received = asyncio.Condition()
        self.url = ""
        self.redirect_to = ""  # answer every POST with a 307 to this URL
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.posts += 1
        self.headers = dict(request.headers)
        if self.redirect_to:
            return web.Response(status=307, headers={"Location": self.redirect_to})
        if self.hang:
            self.entered.set()
            await self.release.wait()
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503)
        body = await request.json()
        async with self.received:
            self.events.extend(body["events"])
            self.received.notify_all()
        return web.Response(status=204)

    async def wait_for(self, count: int) -> None:
        async with self.received:
            await self.received.wait_for(lambda: len(self.events) >= count)

    async def __aenter__(self) -> WebhookEmulator:
        app = web.Application()
        app.router.add_post("/usage", self.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/usage"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookEmulator]:
    async with WebhookEmulator() as hook:
        yield hook


def fallback_config(**telemetry: Any) -> Config:
    return make_config(
        {**mock_provider("broken", mode="unhealthy"), "retries": 0},
        mock_provider("backup", "m-2", reply="saved by the backup"),
        telemetry=telemetry,
    )


async def test_hook_gets_one_event_per_attempt_with_the_callers_context() -> None:
    config = fallback_config()
    hook = Collected(expected=2)
    async with running(config, telemetry=Telemetry(config, usage_hooks=[hook])) as server:
        reply = await server.stub.Generate(
            generate_pb2.GenerateRequest(prompt="hello there", metadata=META),
            metadata=(("x-request-id", "req-1"), ("x-api-key-id", "key-42")),
        )
        await hook.arrived.wait()
    failed, served = hook.events
    assert (failed.provider, failed.success, failed.outcome) == ("broken", False, "failed")
    assert failed.error_type == "unavailable"
    assert (served.provider, served.model, served.success) == ("backup", "m-2", True)
    assert (served.prompt_tokens, served.completion_tokens) == (2, 4)
    assert served.total_tokens == reply.usage.total_tokens
    assert (served.kind, served.streaming, served.error_type) == ("mock", False, "")
    for event in hook.events:
        assert (event.request_id, event.key_id) == ("req-1", "key-42")
        assert (event.tenant, event.user, event.tags) == ("acme", "u-1", ("search",))
        assert event.timestamp > 0
        assert event.latency >= 0
    assert failed.event_id != served.event_id


async def test_cancelled_stream_reports_the_usage_it_consumed() -> None:
    config = make_config(mock_provider("slow", reply="w1 w2 w3 w4 w5 w6", chunk_delay_ms=60_000))
    hook = Collected(expected=1)
    async with running(config, telemetry=Telemetry(config, usage_hooks=[hook])) as server:
        call = server.stub.GenerateStream(generate_pb2.GenerateStreamRequest(prompt="go on"))
        async for event in call:
            if event.HasField("delta"):
                break
        call.cancel()
        await hook.arrived.wait()
    [event] = hook.events
    assert (event.outcome, event.success, event.streaming) == ("cancelled", False, True)
    assert event.completion_tokens == 1  # "w1", estimated from the text streamed
    assert event.prompt_tokens > 0
    assert event.usage_estimated
    assert event.time_to_first_token is not None


async def test_webhook_receives_one_event_per_attempt(webhook: WebhookEmulator) -> None:
    config = fallback_config(usage={"webhook": {"url": webhook.url}})
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", metadata=META))
        await webhook.wait_for(2)
    assert [(e["provider"], e["outcome"]) for e in webhook.events] == [
        ("broken", "failed"),
        ("backup", "success"),
    ]
    assert webhook.events[1]["tags"] == ["search"]
    json.dumps(webhook.events)  # plain JSON all the way


async def test_webhook_failures_are_retried(webhook: WebhookEmulator) -> None:
    webhook.fail_next = 2
    config = make_config(
        mock_provider("alpha"),
        telemetry={"usage": {"webhook": {"url": webhook.url, "retries": 2, "backoff": 0.001}}},
    )
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        await webhook.wait_for(1)
        assert server.app.telemetry.dropped_events == 0
    assert webhook.posts == 3
    assert len(webhook.events) == 1


async def test_a_hanging_webhook_does_not_slow_requests(webhook: WebhookEmulator) -> None:
    webhook.hang = True
    config = make_config(
        mock_provider("alpha"),
        telemetry={
            "metrics": {"address": "127.0.0.1:0"},
            "usage": {
                "webhook": {
                    "url": webhook.url,
                    "queue_size": 2,
                    "timeout": 60,
                    "flush_timeout": 0.1,
                }
            },
        },
    )
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="first"))
        await webhook.entered.wait()  # the worker is stuck in a POST that never answers
        # Generous bound: each call takes milliseconds; the webhook's timeout is 60 s.
        async with asyncio.timeout(5):
            for _ in range(10):
                reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="more"))
                assert reply.text
        assert not webhook.release.is_set()
        telemetry = server.app.telemetry
        assert telemetry.dropped_events == 10 - 2  # the queue holds 2 while the POST hangs
    assert webhook.events == []


async def test_a_webhook_key_comes_from_the_environment(
    webhook: WebhookEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        mock_provider("alpha"),
        telemetry={
            "usage": {"webhook": {"url": webhook.url, "headers_env": {"X-Token": "HOOK_TOKEN"}}}
        },
    )
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    with pytest.raises(StartupError, match="HOOK_TOKEN"):
        App(config)
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    async with running(config) as server:
        await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        await webhook.wait_for(1)
    assert webhook.headers["X-Token"] == "t0ken"


async def test_a_webhook_redirect_is_not_followed_with_its_token(
    webhook: WebhookEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t0ken-for-the-webhook")
    async with WebhookEmulator() as elsewhere:
        webhook.redirect_to = elsewhere.url
        config = make_config(
            mock_provider("alpha"),
            telemetry={
                "usage": {
                    "webhook": {
                        "url": webhook.url,
                        "retries": 0,
                        "headers_env": {"Authorization": "HOOK_TOKEN"},
                    }
                }
            },
        )
        async with running(config) as server:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        # Stopping flushed the queue: the one batch was refused (a 3xx is not delivered).
        assert server.app.telemetry.dropped_events == 1
        assert webhook.posts == 1
        assert elsewhere.posts == 0
