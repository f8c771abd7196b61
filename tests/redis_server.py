"""A real `redis-server` for tests: on a free loopback port, with its own directory, nothing
persisted, stopped (or paused, or killed) by its PID."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

READY = b"Ready to accept connections"
START_TIMEOUT = 20.0  # bound on a start; redis-server is normally ready in milliseconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: list[bytes] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, port: int | None = None) -> None:
        """Starts on `port` (the same one again after a stop), else on a free one; returns
        once the server says it accepts connections."""
        for _ in range(3):
            self.port = port or free_port()
            if self._start_once():
                return
            if port:
                break  # a fixed port that will not bind: no point trying others
        raise RuntimeError("redis-server did not start:\n" + b"".join(self._log).decode())

    def _start_once(self) -> bool:
        self._log = []  # this process's output only: an earlier one's "ready" must not count
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.directory),
            "save": "",  # nothing persisted: a restart starts empty, like a lost Redis
            "appendonly": "no",
            "daemonize": "no",
            "logfile": "",  # to stdout, where start() reads that it is ready
            "protected-mode": "yes",
        }
        argv = [self.binary]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        stdout = self.process.stdout
        os.set_blocking(stdout.fileno(), False)
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(deadline - time.monotonic()):
                    continue
                chunk = stdout.read()
                if not chunk:  # end of output: the server exited
                    self.process.wait()
                    return False
                self._log.append(chunk)
                if READY in b"".join(self._log[-2:]):
                    return True
        self.kill()
        return False

    def kill(self) -> None:
        """Stops the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def pause(self) -> None:
        """The server stops answering but keeps its connections (a hung Redis)."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


@contextmanager
def redis_server(binary: str, directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(binary, directory)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.resume()  # a paused process ignores nothing but must not stay stopped
        server.kill()
