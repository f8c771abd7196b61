"""`orchestrator serve --workers 2` as real processes: both workers serve one port, one scrape
counts every call, a killed worker is started again and serves, SIGHUP reloads every worker,
SIGTERM drains calls in flight, and a worker that cannot start stops the whole. With
--pid-file the supervisor names itself (`orchestrator reload --pid-file` reaches every
worker)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.v1 import generate_pb2
from tests.e2e.prometheus import scraping
from tests.e2e.workers import LIMIT, Supervisor, serving, start, write_config
from tests.emulators.gated import Gate, GatedOpenAIEmulator
from tests.helpers import http_provider, mock_provider

pytestmark = pytest.mark.e2e
MAX_CONNECTIONS = 200  # to reach both workers: each new connection is a coin toss


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_workers_share_the_port_count_in_one_scrape_restart_and_reload(
    tmp_path: Path,
) -> None:
    """One supervisor through its life (each start costs seconds of imports): calls reach both
    workers and one scrape counts them all (and so does a real Prometheus); a killed worker is
    started again and serves; SIGHUP (by the pid file) reloads every worker; killing the
    supervisor itself makes the workers stop."""
    config, pid_file = tmp_path / "config.yaml", tmp_path / "orchestrator.pid"
    write_config(config, 0, [mock_provider("alpha", "m-1")])
    async with serving(config, 2, "--pid-file", str(pid_file)) as supervisor:
        assert int(pid_file.read_text()) == supervisor.process.pid
        calls = await _one_scrape_counts_every_call(supervisor)
        async with scraping(tmp_path, supervisor.metrics_port) as prometheus:
            seen = await prometheus.wait_for("sum(llm_requests_total)", calls)
            assert seen == calls, f"Prometheus answered {seen}:\n{prometheus.log_tail()}"
        await _a_killed_worker_is_started_again_and_serves(supervisor)
        await _sighup_reloads_every_worker(supervisor, config, pid_file)
        await _workers_stop_when_the_supervisor_is_killed(supervisor)


async def _one_scrape_counts_every_call(supervisor: Supervisor) -> int:
    """Calls until both workers served some; one scrape counts them all. Returns the calls."""
    calls = 0
    # New connections until the kernel has given calls to both workers.
    while len(await supervisor.calls_by_worker()) < 2 and calls < MAX_CONNECTIONS:
        reply = await supervisor.call_on_new_connection()
        assert reply.provider == "alpha"
        calls += 1
    for _ in range(5):
        await supervisor.call_on_new_connection()
        calls += 1

    by_worker = await supervisor.calls_by_worker()
    assert set(by_worker) == {"0", "1"}, supervisor.log()
    for _ in range(4):  # one answer, whichever worker a probe's connection reaches
        async with supervisor.channel() as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=LIMIT
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert sum(by_worker.values()) == calls
    scrape = await supervisor.scrape()
    assert scrape["orchestrator_workers"] == [({}, 2.0)]
    up = {labels["worker"]: value for labels, value in scrape["orchestrator_worker_up"]}
    assert up == {"0": 1.0, "1": 1.0}
    # Every worker's series carries its worker label, and its values are 0..N-1 only.
    workers = {labels.get("worker") for samples in scrape.values() for labels, _ in samples}
    assert workers == {None, "0", "1"}  # None: orchestrator_workers alone
    return calls


async def _a_killed_worker_is_started_again_and_serves(supervisor: Supervisor) -> None:
    pid = supervisor.pids()["1"]
    os.kill(pid, signal.SIGKILL)
    await supervisor.expect(rf"worker 1 \(pid {pid}\) killed by SIGKILL; starting it again")
    restarted = await supervisor.expect(r"worker 1 serving \(pid (\d+)\)")
    assert int(restarted[1]) != pid

    calls = 0
    while (await supervisor.calls_by_worker()).get("1", 0) == 0:  # its successor counts anew
        assert calls < MAX_CONNECTIONS, "the restarted worker never served a call"
        await supervisor.call_on_new_connection()
        calls += 1
    scrape = await supervisor.scrape()
    restarts = {labels["worker"]: v for labels, v in scrape["orchestrator_worker_restarts_total"]}
    assert restarts == {"0": 0.0, "1": 1.0}


async def _sighup_reloads_every_worker(
    supervisor: Supervisor, config: Path, pid_file: Path
) -> None:
    port = int(supervisor.address.rsplit(":", 1)[1])
    write_config(config, port, [mock_provider("second"), mock_provider("third")])
    reload = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator_server", "reload", "--pid-file", str(pid_file),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(reload.communicate(), LIMIT)
    assert reload.returncode == 0
    assert f"sent SIGHUP to {supervisor.process.pid}" in out.decode()
    reloaded = {
        (await supervisor.expect(r"worker (\d) \S+: configuration reloaded .*SIGHUP"))[1]
        for _ in range(2)
    }
    assert reloaded == {"0", "1"}

    scrape = await supervisor.scrape()
    health = {(labels["worker"], labels["provider"]) for labels, _ in scrape["llm_provider_health"]}
    assert health == {("0", "second"), ("0", "third"), ("1", "second"), ("1", "third")}
    for _ in range(4):  # whichever worker answers serves the new providers
        reply = await supervisor.call_on_new_connection()
        assert reply.provider == "second"


async def _workers_stop_when_the_supervisor_is_killed(supervisor: Supervisor) -> None:
    watches = [os.pidfd_open(pid) for pid in supervisor.pids().values()]
    try:
        supervisor.process.send_signal(signal.SIGKILL)
        for fd in watches:  # readable once that process has exited
            ready, _, _ = await asyncio.to_thread(select.select, [fd], [], [], LIMIT)
            assert ready == [fd], "a worker outlived its supervisor"
    finally:
        for fd in watches:
            os.close(fd)
    await supervisor.expect(r"worker \d \S+: the supervisor is gone: shutting down")


async def test_sigterm_lets_every_worker_finish_its_calls_in_flight(tmp_path: Path) -> None:
    gate = Gate()
    async with GatedOpenAIEmulator("upstream", gate) as upstream:
        config = tmp_path / "config.yaml"
        provider = http_provider("openai", "upstream", f"{upstream.base_url}/v1", model="gpt")
        write_config(config, free_port(), [provider], server={"grace_period": LIMIT})
        pid_file = tmp_path / "orchestrator.pid"
        async with serving(config, 2, "--pid-file", str(pid_file)) as supervisor:
            channels = [supervisor.channel() for _ in range(12)]  # a connection each
            try:
                calls = [
                    asyncio.ensure_future(generate(channel, "held at the gate", timeout=LIMIT))
                    for channel in channels
                ]
                await asyncio.wait_for(gate.until_held(len(calls)), LIMIT)

                supervisor.process.send_signal(signal.SIGTERM)
                draining = {
                    (await supervisor.expect(r"worker (\d) \S+: shutting down"))[1]
                    for _ in range(2)
                }
                assert draining == {"0", "1"}
                assert supervisor.process.returncode is None
                assert not any(call.done() for call in calls)

                gate.open()
                replies = await asyncio.gather(*calls)
            finally:
                for channel in channels:
                    await channel.close()
            assert {reply.text for reply in replies} == {upstream.reply}
            assert await supervisor.stop() == 0
            await supervisor.expect(r"worker 0 \(pid \d+\) exited with status 0")
            await supervisor.expect(r"supervisor\S*: stopped")
            assert not pid_file.exists()  # removed on the way out


async def generate(
    channel: grpc.aio.Channel, prompt: str, *, timeout: float
) -> generate_pb2.GenerateResponse:
    from orchestrator.v1 import orchestrator_service_pb2_grpc

    stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
    return await stub.Generate(generate_pb2.GenerateRequest(prompt=prompt), timeout=timeout)


async def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    provider = http_provider(
        "openai", "keyed", "http://127.0.0.1:9/v1", model="gpt", api_key_env="NOT_SET_ANYWHERE"
    )
    write_config(config, free_port(), [provider])
    supervisor = await start(config)
    await supervisor.expect(r"worker \d \(pid \d+\) exited with status 1 before every worker")
    assert await asyncio.wait_for(supervisor.process.wait(), LIMIT) == 1
    assert any("NOT_SET_ANYWHERE is not set" in line for line in supervisor.lines)


async def test_a_port_in_use_is_refused_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "config.yaml"
        write_config(config, taken.getsockname()[1], [mock_provider("alpha")])
        supervisor = await start(config)
        assert await asyncio.wait_for(supervisor.process.wait(), LIMIT) == 1
    await supervisor.stop()
    assert "cannot listen on 127.0.0.1:" in "".join(supervisor.lines)
    assert not any("worker" in line for line in supervisor.lines)
