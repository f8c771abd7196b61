"""`serve --workers N` against one process: Generate throughput at a fixed number of calls in
flight, in one run; writes results/workers.{json,md}.

    make bench-workers
    .venv/bin/python bench/scaling.py [--workers 1,2] [--provider upstream,mock] [--rounds 5]

For each provider setup (`upstream`: one `kind: openai` provider on bench/upstream.py, as
DESIGN.md §8 states its budget; `mock`: a zero-latency mock provider, no upstream process, so
the server has the machine's cores to itself but for the load generator) it starts one gateway
per worker count (1 is plain `orchestrator serve`, one process, no supervisor), then measures
each in turn, alternating, with h2load: `--concurrency` calls in flight spread over
`--connections` HTTP/2 connections (the kernel hands each new connection to one worker, so
there must be several). The split of calls between workers comes from the supervisor's scrape.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

import h2load_load
import meta
import run
import servers
import verify
import workload
from loadspec import LoadSpec, percentile

BENCH = Path(__file__).resolve().parent


@dataclass
class Round:
    round: int
    provider: str
    workers: int
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_call: float
    server_cpu_cores: float  # server CPU seconds per second of the run
    loadgen_cpu_share: float
    other_cpu_share: float
    calls_by_worker: dict[str, int]
    ok: int
    failed: int
    verified: bool
    problems: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--provider", default="upstream,mock", help="upstream and/or mock")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w]
    args.provider = [p for p in args.provider.split(",") if p]
    if not set(args.provider) <= {"upstream", "mock"} or not args.workers:
        parser.error("--provider: upstream and/or mock; --workers: e.g. 1,2")
    if args.concurrency % args.connections or not 1 <= args.rounds <= 15:
        parser.error("concurrency must be a multiple of connections; 1 <= rounds <= 15")
    return args


def start_gateway(
    stack: ExitStack, tmp: Path, config: Path, workers: int
) -> tuple[servers.Server, str]:
    """The gateway with `workers` processes; returns it and its metrics address."""
    address, metrics = servers.free_address(), servers.free_address()
    orchestrator = str(Path(sys.executable).with_name("orchestrator"))
    command = [orchestrator, "serve", "--config", str(config), "--address", address]
    command += ["--metrics-address", metrics]
    if workers > 1:
        command += ["--workers", str(workers)]
    name = f"workers={workers}"
    log = tmp / f"gateway-{workers}.log"
    server = stack.enter_context(servers.running(name, command, address, log))
    if workers > 1:
        _wait_all_workers(server, workers)
    return server, metrics


def _wait_all_workers(server: servers.Server, workers: int) -> None:
    """Health answers as soon as one worker serves; the run waits for the supervisor to say
    that all of them do."""
    for _ in range(servers.READY_TRIES * 4):
        if f"all {workers} workers serving" in server.log_tail(100_000):
            return
        time.sleep(servers.READY_TRY_S)  # another process's log file, no event to wait on
    raise servers.ServerError(f"not every worker serving:\n{server.log_tail()}")


def requests_by_worker(metrics: str) -> tuple[dict[str, int], dict[str, int]]:
    """From one scrape: successful provider calls by worker, and the others by status.
    Calls in flight when h2load stops are cancelled ("cancelled"): not failures."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    by_worker: dict[str, int] = {}
    others: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != "llm_requests_total":
                continue
            status = sample.labels.get("status", "")
            if status != "success":
                others[status] = others.get(status, 0) + int(sample.value)
                continue
            worker = sample.labels.get("worker", "0")
            by_worker[worker] = by_worker.get(worker, 0) + int(sample.value)
    return by_worker, others


def measure(
    round_no: int,
    provider: str,
    workers: int,
    gateway: tuple[servers.Server, str],
    upstream: servers.Server | None,
    replies: verify.Replies,
    args: argparse.Namespace,
) -> Round:
    server, metrics = gateway
    if args.quiet_wait > 0 and servers.wait_quiet(args.quiet_wait) >= args.quiet_wait:
        run.progress(f"machine still busy after {args.quiet_wait:g} s: measuring anyway")
    spec = LoadSpec(workload.GENERATE, args.concurrency, args.connections, args.duration)
    if args.warmup > 0:
        h2load_load.run(dataclasses.replace(spec, duration_s=args.warmup), server.address)
    counts_before = None if upstream is None else verify.upstream_counts(upstream.address)
    split_before, failed_before = requests_by_worker(metrics)
    busy, window, cpu = (
        -servers.machine_busy_seconds(),
        -time.perf_counter(),
        -server.cpu_seconds(),
    )
    up_cpu = 0.0 if upstream is None else -upstream.cpu_seconds()
    result = h2load_load.run(spec, server.address)
    cpu += server.cpu_seconds()
    window += time.perf_counter()
    busy += servers.machine_busy_seconds()
    up_cpu += 0.0 if upstream is None else upstream.cpu_seconds()
    split_after, failed_after = requests_by_worker(metrics)
    split = {w: n - split_before.get(w, 0) for w, n in sorted(split_after.items())}
    counts = None
    if upstream is not None and counts_before is not None:
        counts = (counts_before, verify.upstream_counts(upstream.address))
    check = verify.verdict(result, False, replies, None, counts)
    problems = [check.detail] if check.detail else []
    failed = {
        status: n - failed_before.get(status, 0)
        for status, n in failed_after.items()
        if status != "cancelled" and n != failed_before.get(status, 0)
    }
    if failed:
        problems.append(f"the gateway counted failed calls: {failed}")
    if sum(split.values()) < result.ok:
        problems.append(f"the gateway counted {sum(split.values())} calls for {result.ok}")
    ok = max(result.ok, 1)
    return Round(
        round=round_no,
        provider=provider,
        workers=workers,
        calls_per_s=result.ok / result.elapsed_s,
        p50_ms=percentile(result.latencies_us, 50) / 1000,
        p99_ms=percentile(result.latencies_us, 99) / 1000,
        server_cpu_us_per_call=cpu / ok * 1e6,
        server_cpu_cores=cpu / window,
        loadgen_cpu_share=result.loadgen_cpu_s / window,
        other_cpu_share=max(0.0, busy - cpu - up_cpu - result.loadgen_cpu_s) / window,
        calls_by_worker=split,
        ok=result.ok,
        failed=result.failed,
        verified=not problems,
        problems="; ".join(problems),
    )


def run_provider(provider: str, args: argparse.Namespace) -> list[Round]:
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp, ExitStack() as stack:
        upstream = None
        config = Path(tmp) / "gateway.yaml"
        if provider == "upstream":
            upstream = run.start_upstream(stack, Path(tmp), [])
            config.write_text(workload.gateway_upstream_config(f"http://{upstream.address}/v1"))
        else:
            config.write_text(workload.GATEWAY_CONFIG)
        gateways = {w: start_gateway(stack, Path(tmp), config, w) for w in args.workers}
        replies = {w: verify.check_replies(g[0].address) for w, g in gateways.items()}
        for round_no in range(1, args.rounds + 1):
            order = args.workers if round_no % 2 else list(reversed(args.workers))
            for w in order:
                r = measure(round_no, provider, w, gateways[w], upstream, replies[w], args)
                rounds.append(r)
                check = "" if r.verified else f"  NOT VERIFIED: {r.problems}"
                run.progress(
                    f"{provider} round {round_no} workers={w}: {r.calls_per_s:,.0f} calls/s, "
                    f"server {r.server_cpu_cores:.2f} cores, other {r.other_cpu_share:.2f}, "
                    f"split {r.calls_by_worker}{check}"
                )
        for gateway, _ in gateways.values():
            verify.check_replies(gateway.address, calls=5)
    return rounds


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(rounds: list[Round], args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    base = min(args.workers)
    for provider in args.provider:
        mine = [r for r in rounds if r.provider == provider]
        by_round = {(r.round, r.workers): r for r in mine}
        for w in args.workers:
            rs = [r for r in mine if r.workers == w]
            ratios = [
                r.calls_per_s / by_round[(r.round, base)].calls_per_s
                for r in rs
                if by_round[(r.round, base)].calls_per_s
            ]
            shares = [
                max(r.calls_by_worker.values()) / max(1, sum(r.calls_by_worker.values()))
                for r in rs
            ]
            out.append(
                {
                    "provider": provider,
                    "workers": w,
                    "calls_per_s": spread([r.calls_per_s for r in rs]),
                    "ratio_to_base": spread(ratios),
                    "p50_ms": spread([r.p50_ms for r in rs]),
                    "p99_ms": spread([r.p99_ms for r in rs]),
                    "server_cpu_us_per_call": spread([r.server_cpu_us_per_call for r in rs]),
                    "server_cpu_cores": spread([r.server_cpu_cores for r in rs]),
                    "busiest_worker_share": spread(shares),
                    "other_cpu_share": spread([r.other_cpu_share for r in rs]),
                    "verified": all(r.verified for r in rs),
                }
            )
    return out


def _fmt(s: dict[str, float], digits: int = 0) -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])} to {f.format(s['max'])})"


def markdown(info: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    base = min(s["workers"] for s in summary)
    lines = [
        "# `serve --workers N`: Generate throughput against one process",
        "",
        *meta.header_lines(info),
        f"- load generator: {info['tool']}, {info['concurrency']} calls in flight over "
        f"{info['connections']} HTTP/2 connections",
        f"- {info['rounds']} rounds of {info['duration_s']:g} s per setup after "
        f"{info['warmup_s']:g} s of warm-up, worker counts alternating",
        "",
        "`upstream`: one `kind: openai` provider on bench/upstream.py (a zero-latency "
        "OpenAI-style server in its own process, which shares the cores); `mock`: a "
        "zero-latency mock provider, no upstream process. 1 worker is plain "
        "`orchestrator serve` (one process, no supervisor). Medians over the rounds, range in "
        f"brackets; the ratio is to {base} worker(s) in the same round.",
        "",
        "| provider | workers | calls/s | / 1 worker | p50 ms | p99 ms | server CPU µs/call | "
        "server CPU (cores) | busiest worker's share | other processes (cores) | checked |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        lines.append(
            f"| {s['provider']} | {s['workers']} | {_fmt(s['calls_per_s'])} | "
            f"{_fmt(s['ratio_to_base'], 2)} | {_fmt(s['p50_ms'], 2)} | {_fmt(s['p99_ms'], 2)} | "
            f"{_fmt(s['server_cpu_us_per_call'])} | {_fmt(s['server_cpu_cores'], 2)} | "
            f"{_fmt(s['busiest_worker_share'], 2)} | {_fmt(s['other_cpu_share'], 2)} | "
            f"{'yes' if s['verified'] else '**NO**'} |"
        )
    lines += [
        "",
        "## Notes",
        "",
        "- Replies checked: real calls before and after; under load no failed call, one full "
        "reply's bytes per call, the scrape of every worker counting every call and no failure, "
        "and (upstream) the upstream's counters one completion per call.",
        "- The kernel (SO_REUSEPORT) hands each new connection to one worker: the busiest "
        "worker's share of calls shows how even the split was.",
        "- On 2 cores the load generator (and the upstream) take CPU the workers would use: "
        "the server's own CPU in cores shows what the workers got.",
        "- Beside other jobs (other processes' CPU above about 0.1 of a core), two workers also "
        "win a larger share of the CPU from those jobs than one process does (the scheduler "
        "shares by thread), so a ratio taken under load overstates the scaling as much as the "
        "noise hides it: read such a run as preliminary and rerun it on a quiet machine.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not h2load_load.available():
        raise SystemExit("h2load not found: apt-get install nghttp2-client")
    info = {
        **meta.run_meta("scaling.py", argv),
        "tool": subprocess.run(
            ["h2load", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrency": args.concurrency,
        "connections": args.connections,
    }
    rounds = [r for provider in args.provider for r in run_provider(provider, args)]
    summary = summarize(rounds, args)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"meta": info, "summary": summary, "rounds": [asdict(r) for r in rounds]}
    (args.out / "workers.json").write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    text = markdown(info, summary)
    (args.out / "workers.md").write_text(text)
    print(text)
    return 0 if all(s["verified"] for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
