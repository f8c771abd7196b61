"""Reload on change of the configuration file, by polling: no dependency, and it follows the
symlink swap Kubernetes uses to update a mounted ConfigMap."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Signature = tuple[int, int, int] | None  # (mtime_ns, size, inode); None: unreadable


class ConfigWatcher:
    """Calls `changed()` once the file's content differs from the last content handled and
    its stat has held still for one interval (an editor or a copy may write in steps)."""

    def __init__(self, path: Path, interval: float, changed: Callable[[], None]) -> None:
        self._path = path
        self._interval = interval
        self._changed = changed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Takes the file as it is now as the one applied (read at once, so a change right
        after the start is not missed), then polls."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run(self._signature(), self._digest()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _signature(self) -> Signature:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _digest(self) -> str | None:
        try:
            return hashlib.sha256(self._path.read_bytes()).hexdigest()
        except OSError:
            return None

    async def _run(self, seen: Signature, handled: str | None) -> None:
        pending = False
        while True:
            await asyncio.sleep(self._interval)
            now = await asyncio.to_thread(self._signature)
            if now != seen:
                seen, pending = now, True  # changed: wait one more interval for it to settle
                continue
            if not pending or now is None:
                continue
            pending = False
            digest = await asyncio.to_thread(self._digest)
            if digest is None or digest == handled:
                continue  # touched, or rewritten with the same content
            handled = digest
            log.info("configuration file %s changed", self._path)
            try:
                self._changed()
            except Exception:
                log.exception("reacting to the change of %s failed", self._path)
