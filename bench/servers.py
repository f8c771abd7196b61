"""Starting, checking and stopping the servers under test (loopback only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HOST = "127.0.0.1"
READY_TRIES = 150  # each try waits up to READY_TRY_S for the channel: 15 s at most
READY_TRY_S = 0.1
STOP_TIMEOUT_S = 15.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    pass


@dataclass
class Server:
    name: str
    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def free_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return f"{HOST}:{sock.getsockname()[1]}"


@contextmanager
def running(name: str, command: list[str], address: str, log: Path) -> Iterator[Server]:
    """Starts `command`, waits for its health service to say SERVING, stops it on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, address, process, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)


def wait_ready(server: Server) -> None:
    request = health_pb2.HealthCheckRequest(service="")
    with grpc.insecure_channel(server.address) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        for _ in range(READY_TRIES):
            if server.process.poll() is not None:
                raise ServerError(
                    f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                reply = check(request, timeout=READY_TRY_S, wait_for_ready=True)
            except grpc.RpcError:
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
    raise ServerError(f"{server.name} not SERVING after {READY_TRIES} tries:\n{server.log_tail()}")


def stop(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=STOP_TIMEOUT_S)
