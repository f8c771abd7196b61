"""A worker's side of `serve --workers N`: its index, where its private listeners go, and the
socket it shares with the supervisor.

The supervisor starts each worker with one end of a socket pair. The worker writes `ready`
on it once it serves (signal handlers installed), and reads it until end of file: the
supervisor holds the other end for as long as it lives, so end of file means it is gone (even
killed with SIGKILL) and the worker shuts down gracefully instead of living on unsupervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator_server.listeners import UNIX

log = logging.getLogger(__name__)

READY = b"ready\n"
METRICS = "metrics"


def private_address(directory: Path, listener: str, index: int) -> str:
    """Where worker `index` serves its part of a supervisor-owned listener."""
    return f"{UNIX}{directory / f'{listener}-{index}.sock'}"


@dataclass(slots=True)
class WorkerRole:
    index: int
    count: int
    private_dir: Path  # made by the supervisor, readable by its user only
    control_fd: int  # this worker's end of the socket pair
    _watch: asyncio.Task[None] | None = field(default=None, repr=False)

    def private_address(self, listener: str) -> str:
        return private_address(self.private_dir, listener, self.index)

    def metrics_address(self, chosen: str | None) -> str:
        """The metrics endpoint is supervisor-owned: a worker whose configuration (or
        --metrics-address) turns metrics on serves them on its private socket instead."""
        return "off" if chosen in (None, "", "off") else self.private_address(METRICS)

    async def serving(self, supervisor_gone: Callable[[], object]) -> None:
        """Tells the supervisor this worker serves; `supervisor_gone` is called should the
        supervisor's end of the pair close."""
        sock = socket.socket(fileno=self.control_fd)
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(READY)
        await writer.drain()
        self._watch = asyncio.ensure_future(self._wait_for_eof(reader, writer, supervisor_gone))

    @staticmethod
    async def _wait_for_eof(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        supervisor_gone: Callable[[], object],
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        writer.close()
        log.warning("the supervisor is gone: shutting down")
        supervisor_gone()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
