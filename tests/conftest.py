"""Session-wide test set-up.

The embedded default config listens on 127.0.0.1:50051 and serves metrics on
127.0.0.1:9464; a test that started it unchanged would fail while `make run` is up (the
quick start's order). In CI the session holds both ports itself, so such a test fails
there every time instead of on some developer's machine. Locally it holds them only when
ORCHESTRATOR_TEST_HOLD_PORTS=1, since other checkouts on a shared machine may use them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

DEFAULT_PORTS = (50051, 9464)


def _holding() -> bool:
    flags = (os.environ.get("CI", ""), os.environ.get("ORCHESTRATOR_TEST_HOLD_PORTS", ""))
    return any(flag.lower() in ("1", "true", "yes") for flag in flags)


@pytest.fixture(scope="session", autouse=True)
def default_ports_taken() -> Iterator[None]:
    held: list[socket.socket] = []
    if _holding():
        for port in DEFAULT_PORTS:
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
            except OSError:  # already taken (by `make run`, say): just as good
                sock.close()
            else:
                held.append(sock)
    try:
        yield
    finally:
        for sock in held:
            sock.close()
