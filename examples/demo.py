"""`make demo`: the gateway in front of six provider emulators, driven by a short script.

Starts the emulators (tests/emulators, which speak each provider's real wire format) and
the gateway on loopback ports, then shows round-robin routing, fallback when a provider
starts failing, a stream from each provider, and GetMetrics. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the emulators live in the test tree

from orchestrator.v1 import (  # noqa: E402
    common_pb2,
    generate_pb2,
    metrics_pb2,
    orchestrator_service_pb2_grpc,
)
from orchestrator_server.app import App  # noqa: E402
from orchestrator_server.config import Config  # noqa: E402
from tests.emulators.anthropic import AnthropicEmulator  # noqa: E402
from tests.emulators.base import Emulator  # noqa: E402
from tests.emulators.gemini import GeminiEmulator  # noqa: E402
from tests.emulators.gigachat import GigaChatEmulator  # noqa: E402
from tests.emulators.ollama import OllamaEmulator  # noqa: E402
from tests.emulators.openai import OpenAIEmulator  # noqa: E402
from tests.emulators.yandexgpt import YandexGptEmulator  # noqa: E402

PROMPT = "Say hello in one short sentence."


def provider_entries(emulators: dict[str, Emulator]) -> list[dict[str, Any]]:
    for name in ("OPENAI", "GIGACHAT", "YANDEX", "ANTHROPIC", "GEMINI"):
        os.environ.setdefault(f"DEMO_{name}_KEY", f"demo-{name.lower()}-key")
    base = {"retries": 0, "timeout": 5}
    url = {name: e.base_url for name, e in emulators.items()}
    return [
        {
            **base,
            "name": "openai",
            "kind": "openai",
            "model": "gpt-4o-mini",
            "base_url": f"{url['openai']}/v1",
            "api_key_env": "DEMO_OPENAI_KEY",
        },
        {
            **base,
            "name": "gigachat",
            "kind": "gigachat",
            "model": "GigaChat",
            "base_url": f"{url['gigachat']}/api/v1",
            "auth_url": f"{url['gigachat']}/api/v2/oauth",
            "api_key_env": "DEMO_GIGACHAT_KEY",
        },
        {
            **base,
            "name": "yandexgpt",
            "kind": "yandexgpt",
            "model": "yandexgpt-lite",
            "base_url": url["yandexgpt"],
            "folder_id": "b1gdemo",
            "api_key_env": "DEMO_YANDEX_KEY",
        },
        {
            **base,
            "name": "ollama",
            "kind": "ollama",
            "model": "llama3.2",
            "base_url": url["ollama"],
        },
        {
            **base,
            "name": "anthropic",
            "kind": "anthropic",
            "model": "claude-sonnet-4-5",
            "base_url": url["anthropic"],
            "api_key_env": "DEMO_ANTHROPIC_KEY",
        },
        {
            **base,
            "name": "gemini",
            "kind": "gemini",
            "model": "gemini-2.5-flash",
            "base_url": url["gemini"],
            "api_key_env": "DEMO_GEMINI_KEY",
        },
    ]


def greet(emulators: dict[str, Emulator]) -> None:
    """Each emulator answers in its own words, so the output shows who served a call."""
    for name, emulator in emulators.items():
        emulator.set(text=f"Hello from the {name} emulator!", words_per_chunk=2)


def heading(text: str) -> None:
    print(f"\n== {text}")


def trail(attempts: Any) -> str:
    return " -> ".join(f"{a.provider}:{a.error_code or 'ok'}" for a in attempts)


async def session(
    stub: orchestrator_service_pb2_grpc.OrchestratorServiceStub, emulators: dict[str, Emulator]
) -> None:
    heading("round-robin: six calls, six providers")
    for _ in range(len(emulators)):
        reply = await stub.Generate(generate_pb2.GenerateRequest(prompt=PROMPT))
        print(f"  {reply.provider:<10} {reply.text!r}  ({reply.usage.total_tokens} tokens)")

    heading("fallback: openai starts answering 503 (first-available tries it first)")
    emulators["openai"].set(mode="error", status=503)
    first_available = generate_pb2.RoutingOptions(
        strategy=common_pb2.ROUTING_STRATEGY_FIRST_AVAILABLE
    )
    reply = await stub.Generate(
        generate_pb2.GenerateRequest(prompt=PROMPT, routing=first_available)
    )
    print(f"  served by {reply.provider:<10} trail: {trail(reply.attempts)}")
    greet(emulators)

    heading("a stream from each provider")
    for name in emulators:
        request = generate_pb2.GenerateStreamRequest(prompt=PROMPT, provider=name)
        parts: list[str] = []
        async for event in stub.GenerateStream(request):
            if event.HasField("delta"):
                parts.append(event.delta.text)
            elif event.HasField("end"):
                print(f"  {name:<10} {len(parts)} deltas: {''.join(parts)!r}")

    heading("GetMetrics")
    metrics = await stub.GetMetrics(metrics_pb2.GetMetricsRequest())
    for p in metrics.providers:
        health = metrics_pb2.HealthStatus.Name(p.health).removeprefix("HEALTH_STATUS_")
        print(
            f"  {p.name:<10} ok {p.requests_ok:>2}  failed {p.requests_failed:>2}  "
            f"{health:<9} p50 {p.p50_latency.ToMilliseconds():>3} ms"
        )


async def main() -> int:
    emulators: dict[str, Emulator] = {
        "openai": OpenAIEmulator(),
        "gigachat": GigaChatEmulator(),
        "yandexgpt": YandexGptEmulator(),
        "ollama": OllamaEmulator(),
        "anthropic": AnthropicEmulator(),
        "gemini": GeminiEmulator(),
    }
    for emulator in emulators.values():
        await emulator.start()
    greet(emulators)
    config = Config.model_validate(
        {
            "server": {"address": "127.0.0.1:0"},
            "router": {"strategy": "round-robin"},
            "providers": provider_entries(emulators),
        }
    )
    app = App(config)
    await app.start()
    print(
        f"gateway on 127.0.0.1:{app.port}; emulators: "
        + ", ".join(f"{n} {e.base_url}" for n, e in emulators.items())
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            await session(orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel), emulators)
    finally:
        await app.stop(grace=1)
        for emulator in emulators.values():
            await emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
