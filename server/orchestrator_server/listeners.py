"""Starting the aiohttp listeners (the metrics endpoint; any later HTTP listener) the same way
in one process and under `serve --workers N`.

Under workers every listener is one of two kinds (docs/deployment.md, "Workers"):
- shared: each worker binds the same HOST:PORT with SO_REUSEPORT and the kernel spreads
  connections over them (the gRPC port; an HTTP API whose every worker can answer any call);
- supervisor-owned: the answer needs every worker (the Prometheus scrape), so the supervisor
  listens on HOST:PORT and each worker serves its part on a private `unix:` socket.
A new listener picks one: `reuse_port=True`, or a private address from the worker's role.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from aiohttp import web

UNIX = "unix:"


def split_host_port(address: str) -> tuple[str, int]:
    """ "HOST:PORT" or "[V6]:PORT" -> (host without brackets, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def start_site(runner: web.AppRunner, address: str, *, reuse_port: bool = False) -> int:
    """Serves `runner` on "HOST:PORT" or "unix:PATH"; returns the TCP port bound (0 for a
    socket path). Raises OSError when the address cannot be had."""
    site: web.BaseSite
    if address.startswith(UNIX):
        path = Path(address.removeprefix(UNIX))
        _remove_stale_socket(path)
        site = web.UnixSite(runner, str(path))
    else:
        host, port = split_host_port(address)
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    if address.startswith(UNIX):
        return 0
    sockets = getattr(site._server, "sockets", None) or ()
    return int(sockets[0].getsockname()[1]) if sockets else split_host_port(address)[1]


def _remove_stale_socket(path: Path) -> None:
    """A worker that died leaves its socket file behind; its successor binds the same path."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            os.unlink(path)
