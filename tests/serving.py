"""`orchestrator serve` as a real process: started on port 0 (its port read from its log),
its log collected as it runs, stopped by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

LIMIT = 30.0  # seconds: a "does not hang" bound
_LISTENING = re.compile(r"orchestrator listening on \S+ \(port (\d+)\)")


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    port: int = 0
    _new_line: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None
    _eof: bool = False

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := (await self.process.stderr.readline()).decode():
            async with self._new_line:
                self.lines.append(line)
                self._new_line.notify_all()
        async with self._new_line:
            self._eof = True
            self._new_line.notify_all()

    async def wait_for(self, pattern: str, *, start: int = 0) -> re.Match[str]:
        """The first log line from index `start` on matching `pattern` (a regex)."""
        regex = re.compile(pattern)

        async def find() -> re.Match[str]:
            async with self._new_line:
                seen = start
                while True:
                    for line in self.lines[seen:]:
                        if match := regex.search(line):
                            return match
                    seen = len(self.lines)
                    if self._eof:
                        raise AssertionError(
                            f"the server exited before logging {pattern!r}:\n{self.log}"
                        )
                    await self._new_line.wait()

        return await asyncio.wait_for(find(), LIMIT)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), LIMIT)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, LIMIT)
        return code


@asynccontextmanager
async def serving(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    addresses: bool = True,
) -> AsyncIterator[ServeProcess]:
    """`orchestrator serve ARGS`, on 127.0.0.1:0 with metrics off unless ARGS say otherwise
    (or `addresses` is false: then the environment or the config decide); yields once it
    listens."""
    argv: list[str] = list(args)
    if addresses and "--address" not in argv:
        argv += ["--address", "127.0.0.1:0"]
    if addresses and "--metrics-address" not in argv:
        argv += ["--metrics-address", "off"]
    server = await start_serving(argv, cwd=cwd, env=env)
    try:
        server.port = int((await server.wait_for(_LISTENING.pattern)).group(1))
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            await server.stop()


async def start_serving(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> ServeProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator_server",
        "serve",
        *argv,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        env=env,
    )
    server = ServeProcess(process)
    server._reader = asyncio.ensure_future(server._read())
    return server
