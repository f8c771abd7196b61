"""The supervisor of `serve --workers N`: it starts N worker processes (each a whole server,
`orchestrator serve` with a WorkerRole) on one gRPC port shared with SO_REUSEPORT, starts a
worker again when one exits unasked (with backoff, saying why), forwards SIGTERM/SIGINT (each
worker drains: health NOT_SERVING, no new calls, calls in flight get the grace period) and
SIGHUP (each worker re-reads the file), and serves the one Prometheus scrape of them all.

It builds no provider, router or gRPC server, and workers are started with exec, not fork, so
no gRPC or event-loop state is shared between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from orchestrator_server.listeners import UNIX, split_host_port, start_site
from orchestrator_server.pidfile import remove_pid_file, write_pid_file
from orchestrator_server.workers.exposition import merge, supervisor_families
from orchestrator_server.workers.role import METRICS, READY, private_address

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a worker that served this long before exiting starts the backoff afresh
KILL_MARGIN_S = 10.0  # past the grace period, workers still running are killed
SCRAPE_TIMEOUT_S = 5.0


class WorkersError(Exception):
    """The workers could not be started (the port, the metrics address, a worker's start)."""


@dataclass(frozen=True, slots=True)
class Plan:
    count: int
    address: str  # the gRPC HOST:PORT; port 0: one free port is chosen for every worker
    metrics_address: str | None  # the merged scrape's HOST:PORT; None: metrics off
    grace_period: float
    worker_args: Sequence[str]  # `serve` options every worker gets (--config, --log-level, ...)
    admin_enabled: bool = False
    pid_file: Path | None = None  # `serve --pid-file`: this process, which relays SIGHUP


def backoff(failures: int) -> float:
    """Seconds to wait before starting a worker again after `failures` unasked exits in a row."""
    return float(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1)))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class _Worker:
    __slots__ = ("index", "pid", "process", "ready", "reload_pending", "restarts")

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.pid = 0
        self.ready = False
        self.reload_pending = False
        self.restarts = 0

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.address = plan.address  # with the port chosen, once run() has reserved it
        self.metrics_port = 0
        self._workers = [_Worker(i) for i in range(plan.count)]
        self._stopping = asyncio.Event()
        self._all_ready = asyncio.Event()
        self._exit_code = 0
        self._dir = Path()
        self._runner: web.AppRunner | None = None

    async def run(self) -> int:
        """Runs until SIGTERM or SIGINT (or a worker that cannot start); the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, signal.Signals(sig).name)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        reservation = self._reserve_port()
        self._dir = Path(tempfile.mkdtemp(prefix="orchestrator-workers-"))
        try:
            await self._start_metrics()
            log.info(
                "supervisor (pid %d) starting %d workers on %s",
                os.getpid(),
                self.plan.count,
                self.address,
            )
            if self.plan.admin_enabled:
                log.warning(
                    "reload.admin is on: an AdminService change applies to the one worker that "
                    "answers it; SIGHUP (or reload.watch) reloads every worker"
                )
            if self.plan.pid_file is not None:
                # SIGHUP is handled (above); workers started after it read the file anew.
                write_pid_file(self.plan.pid_file)
                log.info("pid %d in %s", os.getpid(), self.plan.pid_file)
            tasks = [asyncio.create_task(self._keep(w)) for w in self._workers]
            await self._stopping.wait()
            await self._drain(tasks)
        finally:
            if self.plan.pid_file is not None:
                remove_pid_file(self.plan.pid_file)
            if self._runner is not None:
                await self._runner.cleanup()
            reservation.close()
            shutil.rmtree(self._dir, ignore_errors=True)
        return self._exit_code

    # -- the port, and the scrape of every worker -------------------------------------------

    def _reserve_port(self) -> socket.socket:
        """Binds (without listening) the gRPC address with SO_REUSEPORT for as long as the
        supervisor lives: port 0 becomes one port for every worker, a port taken by another
        program fails here, once, and no other program can take it while workers restart.
        Only listening sockets get connections, so this one never steals any."""
        host, port = split_host_port(self.plan.address)
        try:
            family, kind, proto, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise WorkersError(f"cannot listen on {self.plan.address}: {exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            raise WorkersError(f"cannot listen on {self.plan.address}: {reason}") from None
        shown = f"[{host}]" if ":" in host else host
        self.address = f"{shown}:{sock.getsockname()[1]}"
        return sock

    async def _start_metrics(self) -> None:
        address = self.plan.metrics_address
        if address is None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            self.metrics_port = await start_site(runner, address)
        except OSError as exc:
            await runner.cleanup()
            raise WorkersError(
                f"cannot serve metrics on {address}: {exc.strerror or exc} "
                "(set telemetry.metrics.address or --metrics-address; 'off' disables it)"
            ) from None
        self._runner = runner
        log.info(
            "metrics of every worker on http://%s/metrics (port %d)", address, self.metrics_port
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        texts = await asyncio.gather(*(self._scrape(w) for w in self._workers))
        answered = {str(w.index): text for w, text in zip(self._workers, texts, strict=True)}
        own = supervisor_families(
            self.plan.count,
            {index: text is not None for index, text in answered.items()},
            {str(w.index): w.restarts for w in self._workers},
        )
        parts = {index: text for index, text in answered.items() if text is not None}
        body = merge(parts, own)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _scrape(self, worker: _Worker) -> str | None:
        if not worker.ready:
            return None
        path = private_address(self._dir, METRICS, worker.index).removeprefix(UNIX)
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)
        try:
            connector = aiohttp.UnixConnector(path=path)
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.get("http://worker/metrics") as reply,
            ):
                return await reply.text() if reply.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("worker %d did not answer the scrape: %s", worker.index, exc)
            return None

    # -- keeping the workers running --------------------------------------------------------

    async def _keep(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping.is_set():
            started = loop.time()
            code = await self._run_worker(worker)
            if self._stopping.is_set():
                log.info("worker %d (pid %d) %s", worker.index, worker.pid, describe_exit(code))
                return
            if not self._all_ready.is_set():
                log.error(
                    "worker %d (pid %d) %s before every worker was serving: stopping",
                    worker.index,
                    worker.pid,
                    describe_exit(code),
                )
                self._exit_code = code if code > 0 else 1
                self._stop("a worker could not start")
                return
            failures = 1 if loop.time() - started >= STABLE_S else failures + 1
            delay = backoff(failures)
            worker.restarts += 1
            log.warning(
                "worker %d (pid %d) %s; starting it again in %.1f s",
                worker.index,
                worker.pid,
                describe_exit(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_worker(self, worker: _Worker) -> int:
        """Starts one worker process and returns its exit status once it exits."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv(worker, theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                process_group=0,  # a terminal's Ctrl-C reaches the supervisor, which forwards it
            )
        except OSError as exc:  # no process could be made (file descriptors, memory)
            ours.close()
            log.error("worker %d could not be started: %s", worker.index, exc)
            return 1
        finally:
            theirs.close()
        worker.process, worker.pid = process, process.pid
        if self._stopping.is_set():
            worker.signal(signal.SIGTERM)
        reader, writer = await asyncio.open_connection(sock=ours)
        exited = asyncio.ensure_future(process.wait())
        announced = asyncio.ensure_future(reader.readline())
        try:
            await asyncio.wait({exited, announced}, return_when=asyncio.FIRST_COMPLETED)
            if announced.done() and announced.result() == READY:
                self._became_ready(worker)
            return await exited
        finally:
            announced.cancel()
            worker.ready = False
            worker.reload_pending = False
            writer.close()

    def _argv(self, worker: _Worker, fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "orchestrator_server",
            "serve",
            *self.plan.worker_args,
            "--address",
            self.address,
            "--worker-index",
            str(worker.index),
            "--worker-count",
            str(self.plan.count),
            "--worker-dir",
            str(self._dir),
            "--worker-fd",
            str(fd),
        ]

    def _became_ready(self, worker: _Worker) -> None:
        worker.ready = True
        log.info("worker %d serving (pid %d)", worker.index, worker.pid)
        if worker.reload_pending:
            worker.reload_pending = False
            worker.signal(signal.SIGHUP)
        if not self._all_ready.is_set() and all(w.ready for w in self._workers):
            self._all_ready.set()
            log.info(
                "all %d workers serving on %s (pids %s)",
                self.plan.count,
                self.address,
                " ".join(str(w.pid) for w in self._workers),
            )

    # -- signals ----------------------------------------------------------------------------

    def _reload(self) -> None:
        log.info("SIGHUP: every worker re-reads its configuration")
        for worker in self._workers:
            if worker.ready:
                worker.signal(signal.SIGHUP)
            elif worker.process is not None and worker.process.returncode is None:
                # Starting: its signal handlers may not be there yet; it reloads once ready.
                worker.reload_pending = True

    def _stop(self, why: str) -> None:
        if self._stopping.is_set():
            return
        log.info(
            "%s: stopping the workers; each refuses new calls, calls in flight get %.1f s",
            why,
            self.plan.grace_period,
        )
        self._stopping.set()

    async def _drain(self, tasks: list[asyncio.Task[None]]) -> None:
        for worker in self._workers:
            worker.signal(signal.SIGTERM)
        done, pending = await asyncio.wait(tasks, timeout=self.plan.grace_period + KILL_MARGIN_S)
        if pending:
            for worker in self._workers:
                if worker.process is not None and worker.process.returncode is None:
                    log.warning(
                        "worker %d (pid %d) still running after %.0f s: killing it",
                        worker.index,
                        worker.pid,
                        self.plan.grace_period + KILL_MARGIN_S,
                    )
                    worker.signal(signal.SIGKILL)
            self._exit_code = self._exit_code or 1
            more, _ = await asyncio.wait(pending)
            done |= more
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("keeping a worker failed", exc_info=task.exception())
                self._exit_code = self._exit_code or 1
        log.info("stopped")
