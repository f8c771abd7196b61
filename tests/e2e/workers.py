"""`orchestrator serve --workers N` run for real: the supervisor as a subprocess, its log read
line by line (workers and supervisor share its stderr), its one scrape parsed."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.v1 import generate_pb2, orchestrator_service_pb2_grpc

LIMIT = 60.0  # seconds: a "does not hang" bound on starts, restarts and stops
# A channel of its own connection: with SO_REUSEPORT the kernel picks a worker per
# connection, and grpc would otherwise reuse one connection for every channel of a process.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


class Supervisor:
    """A running `serve --workers N`: its process, its log, its gRPC and metrics ports."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.address = ""
        self.metrics_port = 0
        self._cursor = 0
        self._changed = asyncio.Condition()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        # Read to the end, always: a full pipe would block the workers' logging.
        assert self.process.stderr is not None
        while line := (await self.process.stderr.readline()).decode(errors="replace"):
            async with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("")  # end of file
            self._changed.notify_all()

    async def expect(self, pattern: str) -> re.Match[str]:
        """The next log line (after the last one expected) that matches `pattern`."""

        def found() -> re.Match[str] | None:
            for i in range(self._cursor, len(self.lines)):
                if self.lines[i] == "":
                    raise AssertionError(f"the supervisor's log ended before {pattern!r}")
                match = re.search(pattern, self.lines[i])
                if match is not None:
                    self._cursor = i + 1
                    return match
            return None

        async def wait() -> re.Match[str]:
            async with self._changed:
                while (match := found()) is None:
                    await self._changed.wait()
                return match

        try:
            return await asyncio.wait_for(wait(), LIMIT)
        except TimeoutError:
            raise AssertionError(f"no log line {pattern!r}:\n{self.log()}") from None

    def pids(self) -> dict[str, int]:
        """Worker index -> pid of its latest process, from the supervisor's log."""
        found: dict[str, int] = {}
        for line in self.lines:
            match = re.search(r"worker (\d+) serving \(pid (\d+)\)", line)
            if match is not None:
                found[match[1]] = int(match[2])
        return found

    def log(self) -> str:
        return "".join(self.lines[-60:])

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.address, options=OWN_CONNECTION)

    async def call_on_new_connection(self, prompt: str = "hello") -> generate_pb2.GenerateResponse:
        async with self.channel() as channel:
            stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
            return await stub.Generate(generate_pb2.GenerateRequest(prompt=prompt), timeout=LIMIT)

    async def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Sample name -> (labels, value) of every sample in one scrape."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            assert reply.status == 200
            text = await reply.text()
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.setdefault(sample.name, []).append((sample.labels, sample.value))
        return out

    async def calls_by_worker(self) -> dict[str, float]:
        counts: dict[str, float] = {}
        for labels, value in (await self.scrape()).get("llm_requests_total", []):
            counts[labels["worker"]] = counts.get(labels["worker"], 0) + value
        return counts

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), LIMIT)
        await asyncio.wait_for(self._reader, LIMIT)
        return code


def write_config(path: Path, port: int, providers: list[dict[str, Any]], **sections: Any) -> None:
    data: dict[str, Any] = {
        "server": {"address": f"127.0.0.1:{port}", **sections.pop("server", {})},
        "telemetry": {"metrics": {"address": "127.0.0.1:0"}},
        "router": {"strategy": "first-available"},
        "reload": {"admin": {"enabled": False}},
        "providers": providers,
        **sections,
    }
    path.write_text(yaml.safe_dump(data))


async def start(config: Path, workers: int = 2, *extra: str) -> Supervisor:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator_server",
        "serve",
        "--config",
        str(config),
        "--workers",
        str(workers),
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Supervisor(process)


@asynccontextmanager
async def serving(config: Path, workers: int = 2, *extra: str) -> AsyncIterator[Supervisor]:
    """Started and every worker serving; stopped (SIGTERM) at the end if still running."""
    supervisor = await start(config, workers, *extra)
    try:
        metrics = await supervisor.expect(r"metrics of every worker on .* \(port (\d+)\)")
        supervisor.metrics_port = int(metrics[1])
        ready = await supervisor.expect(rf"all {workers} workers serving on (\S+) ")
        supervisor.address = ready[1]
        yield supervisor
    finally:
        if supervisor.process.returncode is None:
            supervisor.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(supervisor.process.wait(), LIMIT)
        await asyncio.wait_for(supervisor._reader, LIMIT)
