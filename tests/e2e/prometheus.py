"""A real Prometheus server scraping one target every second, and PromQL over its HTTP API."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.helpers import require_tool

WAIT_S = 60  # bound on Prometheus starting and scraping; it normally takes 1-2 s
POLL_S = 0.2


class Prometheus:
    def __init__(self, process: asyncio.subprocess.Process, base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    async def query(self, session: aiohttp.ClientSession, promql: str) -> float | None:
        try:
            url = f"{self.base}/api/v1/query"
            async with session.get(url, params={"query": promql}) as response:
                if response.status != 200:
                    return None
                body = await response.json()
        except aiohttp.ClientError:
            return None  # not listening yet
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    async def wait_for(self, promql: str, expected: float) -> float | None:
        """Polls (another process's API) until `promql` answers `expected`; the last answer."""
        seen: float | None = None
        deadline = time.monotonic() + WAIT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while time.monotonic() < deadline and self.process.returncode is None:
                seen = await self.query(session, promql)
                if seen == expected:
                    break
                await asyncio.sleep(POLL_S)
        return seen

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def scraping(tmp_path: Path, metrics_port: int) -> AsyncIterator[Prometheus]:
    binary = require_tool("prometheus")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: orchestrator\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    web_port = free_port()
    log = tmp_path / "prometheus.log"
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{web_port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        yield Prometheus(process, f"http://127.0.0.1:{web_port}", log)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
