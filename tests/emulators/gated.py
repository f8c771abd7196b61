"""An OpenAI emulator that holds chat calls at a gate (unary ones before the reply, streams
after their first text) and accepts only the keys it is given: for tests of what happens to
calls in flight while the gateway's configuration changes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.emulators.base import Behaviour
from tests.emulators.openai import ERRORS, OpenAIEmulator


class Gate:
    """Closed until `open()`; counts the calls waiting at it so a test can wait for them."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._changed = asyncio.Event()
        self.held = 0

    def open(self) -> None:
        self._open.set()

    async def hold(self) -> None:
        self.held += 1
        self._changed.set()
        try:
            await self._open.wait()
        finally:
            self.held -= 1

    async def until_held(self, count: int) -> None:
        while self.held < count:
            self._changed.clear()
            await self._changed.wait()


class GatedOpenAIEmulator(OpenAIEmulator):
    def __init__(
        self,
        name: str,
        gate: Gate,
        keys: set[str] | None = None,
        *,
        stream_gate: Gate | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.gate = gate
        self.stream_gate = gate if stream_gate is None else stream_gate
        self.keys = keys  # accepted bearer keys; None accepts any
        self.behaviour = Behaviour(text=self.reply)

    @property
    def reply(self) -> str:
        return f"{self.name} answers in several words"

    def set(self, **changes: Any) -> None:
        super().set(**{"text": self.reply, **changes})

    def keys_seen(self) -> list[str]:
        return [
            r.headers.get("authorization", "").removeprefix("Bearer ")
            for r in self.calls("/v1/chat/completions")
        ]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.keys is not None and sent not in self.keys:
            await self.record(request)
            return web.json_response({"error": ERRORS[401]}, status=401)
        body = await request.json()
        if not body.get("stream"):
            await self.gate.hold()
        return await super().chat(request)

    async def stream(
        self,
        request: web.Request,
        behaviour: Behaviour,
        frames: list[bytes],
        *,
        content_type: str,
        error_frame: bytes | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for i, frame in enumerate(frames):
            if i == 2:  # after the role header and the first text
                await self.stream_gate.hold()
            await response.write(frame)
        await response.write_eof()
        return response
