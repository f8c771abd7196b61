"""Resident memory of the gateway over a long run: after a warm-up, RSS must stay within ±5%
over 100,000 calls (DESIGN.md §8: no per-request sessions, tasks or loggers left behind);
writes results/memory.{json,md}.

    make bench-memory
    .venv/bin/python bench/memory.py [--calls 100000] [--rpc generate,stream] [--step 10000]

The gateway runs as `make run` serves it (metrics on, tracing off) with one `kind: openai`
provider on bench/upstream.py. For each RPC: `--warmup-calls` calls, then RSS is read
(/proc/PID/status VmRSS) after each `--step` calls of h2load (64 in flight, 4 connections)
up to `--calls`. The verdict compares the last reading and the extremes with the reading right
after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h2load_load
import meta
import run
import servers
import verify
import workload
from loadspec import LoadSpec

BENCH = Path(__file__).resolve().parent
LIMIT = 0.05  # ±5% of the RSS after warm-up
STEP_TIMEOUT_S = 600.0
RPCS = {"generate": workload.GENERATE, "stream": workload.GENERATE_STREAM}


@dataclass
class Series:
    rpc: str
    warmup_calls: int
    baseline_mib: float  # RSS right after the warm-up
    readings: list[tuple[int, float]]  # (calls after the warm-up, RSS MiB)
    calls_per_s: float
    failed: int
    verified: bool
    problems: str

    @property
    def final_change(self) -> float:
        return self.readings[-1][1] / self.baseline_mib - 1

    @property
    def widest_change(self) -> float:
        return max((abs(mib / self.baseline_mib - 1) for _, mib in self.readings), default=0.0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", default="generate,stream")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--warmup-calls", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    args.rpc = [r for r in args.rpc.split(",") if r]
    if not set(args.rpc) <= set(RPCS) or not 0 < args.step <= args.calls <= 10_000_000:
        parser.error("--rpc: generate and/or stream; 0 < step <= calls <= 10,000,000")
    return args


def mib(server: servers.Server) -> float:
    return server.rss_bytes() / (1 << 20)


def series(
    name: str, server: servers.Server, upstream: servers.Server, args: argparse.Namespace
) -> Series:
    rpc = RPCS[name]
    replies = verify.check_replies(server.address)

    def calls(count: int) -> verify.Verdict:
        spec = LoadSpec(rpc, args.concurrency, 4, STEP_TIMEOUT_S, calls=count)
        before = (verify.outcomes(server.address), verify.upstream_counts(upstream.address))
        result = h2load_load.run(spec, server.address)
        after = (verify.outcomes(server.address), verify.upstream_counts(upstream.address))
        counted = None
        if before[0] is not None and after[0] is not None:
            counted = (before[0], after[0])
        check = verify.verdict(result, rpc.streaming, replies, counted, (before[1], after[1]))
        timing.append((result.ok, result.elapsed_s, result.failed))
        return check

    timing: list[tuple[int, float, int]] = []
    problems = [c.detail for c in [calls(args.warmup_calls)] if c.detail]
    baseline = mib(server)
    readings: list[tuple[int, float]] = []
    done = 0
    started = time.perf_counter()
    while done < args.calls:
        step = min(args.step, args.calls - done)
        check = calls(step)
        if check.detail:
            problems.append(check.detail)
        done += step
        readings.append((done, mib(server)))
        run.progress(
            f"{name}: {done:,} calls, RSS {readings[-1][1]:.1f} MiB (after warm-up "
            f"{baseline:.1f} MiB)"
        )
    elapsed = time.perf_counter() - started
    verify.check_replies(server.address, calls=5)
    measured = timing[1:]
    return Series(
        rpc=name,
        warmup_calls=args.warmup_calls,
        baseline_mib=baseline,
        readings=readings,
        calls_per_s=sum(ok for ok, _, _ in measured) / elapsed,
        failed=sum(failed for _, _, failed in timing),
        verified=not problems,
        problems="; ".join(problems),
    )


def markdown(info: dict[str, Any], results: list[Series]) -> str:
    lines = [
        "# Memory over a long run",
        "",
        *meta.header_lines(info),
        f"- load generator: {info['tool']}, {info['concurrency']} calls in flight over 4 "
        "connections",
        "",
        "The gateway with one `kind: openai` provider on bench/upstream.py, metrics on, "
        f"tracing off. RSS after {info['warmup_calls']:,} warm-up calls is the baseline; it is "
        f"read again after every {info['step']:,} calls. Budget: within ±{LIMIT:.0%} of the "
        "baseline.",
        "",
        "| rpc | calls after warm-up | RSS after warm-up MiB | RSS at the end MiB | change | "
        "widest change | verdict | calls/s | replies checked |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in results:
        verdict = "met" if s.widest_change <= LIMIT else "**missed**"
        lines.append(
            f"| {s.rpc} | {s.readings[-1][0]:,} | {s.baseline_mib:.1f} | "
            f"{s.readings[-1][1]:.1f} | {s.final_change:+.1%} | {s.widest_change:.1%} | "
            f"{verdict} | {s.calls_per_s:,.0f} | {'yes' if s.verified else '**NO**'} |"
        )
    lines += ["", "## Readings (calls after warm-up: RSS MiB)", ""]
    for s in results:
        readings = ", ".join(f"{n:,}: {m:.1f}" for n, m in s.readings)
        lines.append(f"- {s.rpc}: {readings}")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not h2load_load.available():
        raise SystemExit("h2load not found: apt-get install nghttp2-client")
    info = {
        **meta.run_meta("memory.py", argv),
        "tool": subprocess.run(
            ["h2load", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "calls": args.calls,
        "warmup_calls": args.warmup_calls,
        "step": args.step,
        "concurrency": args.concurrency,
    }
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, ExitStack() as stack:
        upstream = run.start_upstream(stack, Path(tmp), [])
        url = f"http://{upstream.address}/v1"
        (Path(tmp) / "gateway.yaml").write_text(workload.gateway_upstream_config(url))
        address = servers.free_address()
        command = run.server_command("gateway", address, Path(tmp) / "gateway.yaml", url)
        server = stack.enter_context(
            servers.running("gateway", command, address, Path(tmp) / "gateway.log")
        )
        results = [series(name, server, upstream, args) for name in args.rpc]
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "meta": info,
        "limit": LIMIT,
        "results": [
            {**asdict(s), "final_change": s.final_change, "widest_change": s.widest_change}
            for s in results
        ],
    }
    (args.out / "memory.json").write_text(json.dumps(document, indent=2) + "\n")
    text = markdown(info, results)
    (args.out / "memory.md").write_text(text)
    print(text)
    ok = all(s.verified and s.widest_change <= LIMIT for s in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
