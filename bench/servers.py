"""Starting, checking and stopping the servers under test (loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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
        """User + system CPU time so far of the server process (all its threads) and of the
        processes it started (the workers of `serve --workers N`, a proxy's workers)."""
        return sum(_cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def rss_bytes(self) -> int:
        """Resident memory of the server process and of the processes it started."""
        return sum(_rss_bytes(pid) for pid in process_tree(self.process.pid))

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def process_tree(pid: int) -> list[int]:
    """`pid` and its living descendants (from /proc/PID/task/TID/children)."""
    tree, i = [pid], 0
    while i < len(tree):
        for task in Path(f"/proc/{tree[i]}/task").glob("*"):
            with suppress(OSError):
                tree += [int(child) for child in (task / "children").read_text().split()]
        i += 1
    return tree


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # exited meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _rss_bytes(pid: int) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used so far, over all cores (/proc/stat:
    everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def wait_quiet(max_wait_s: float, window_s: float = 0.25, busy_cores: float = 0.15) -> float:
    """Waits (at most `max_wait_s`) until the machine is nearly idle over one `window_s`
    window: other people's jobs would otherwise be measured too. Returns the seconds waited."""
    waited = 0.0
    while waited < max_wait_s:
        before = machine_busy_seconds()
        time.sleep(window_s)
        waited += window_s
        if (machine_busy_seconds() - before) / window_s < busy_cores:
            break
    return waited


def free_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return f"{HOST}:{sock.getsockname()[1]}"


def _die_with_parent(command: list[str]) -> list[str]:
    """With util-linux's setpriv (which execs, so the pid stays the server's), the server gets
    SIGTERM should the benchmark itself be killed before it can stop it."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


@contextmanager
def running(
    name: str,
    command: list[str],
    address: str,
    log: Path,
    ready: Callable[[Server], None] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Starts `command` (with `env` as its whole environment, when given), waits until it is
    ready (default: its gRPC health service says SERVING), and stops it on exit, normal or
    not."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            _die_with_parent(command), stdout=out, stderr=subprocess.STDOUT, env=env
        )
    server = Server(name, address, process, log)
    try:
        (ready or wait_ready)(server)
        yield server
    finally:
        stop(server)


def http_get_json(url: str, timeout: float = 2.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.loads(reply.read())


def wait_http_ready(server: Server, path: str = "/stats", tries: int = READY_TRIES) -> None:
    """Ready when GET http://ADDRESS/path answers 200 with JSON (the upstream)."""
    for _ in range(tries):
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            http_get_json(f"http://{server.address}{path}", timeout=READY_TRY_S)
        except (OSError, urllib.error.URLError, ValueError):
            with suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=READY_TRY_S)  # a pause that notices an exit
            continue
        return
    raise ServerError(f"{server.name} not answering after {tries} tries:\n{server.log_tail()}")


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
