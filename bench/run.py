"""Benchmarks the gateway against the floor server in one run; writes bench/results/.

    .venv/bin/python bench/run.py [--duration 5] [--rounds 2] [--tool auto|h2load|python]

Starts both servers on loopback ports, checks their replies with a real gRPC client, then
runs every scenario against each (alternating, a warm-up before each measurement), checks the
replies again, stops the servers (also on error) and writes generate.json and generate.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc

import h2load_load
import pyload
import report
import servers
import verify
import workload
from loadspec import LoadResult, LoadSpec
from scenarios import Figures, Sample, Scenario, default_scenarios, figures

BENCH = Path(__file__).resolve().parent
Loader = Callable[[LoadSpec, str], LoadResult]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gateway vs floor benchmark")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each one")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per scenario")
    parser.add_argument("--concurrency", default="1,16,64", help="closed-loop levels")
    parser.add_argument("--rate", type=int, default=1000, help="open-loop calls/s (0: skip)")
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams (0: skip)")
    parser.add_argument("--tool", choices=["auto", "h2load", "python"], default="auto")
    parser.add_argument("--targets", default="floor,gateway", help="comma-separated")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or not 0 <= args.warmup <= 10 or not 1 <= args.rounds <= 5:
        parser.error("bounds: 0 < duration <= 60, 0 <= warmup <= 10, 1 <= rounds <= 5")
    args.targets = [t for t in args.targets.split(",") if t]
    if not set(args.targets) <= {report.FLOOR, report.GATEWAY}:
        parser.error("targets are floor and/or gateway")
    return args


def choose_loader(tool: str) -> tuple[str, Loader]:
    """h2load for the closed-loop runs when present. Open-loop runs always use the Python
    client: h2load's --rps sends in bursts (about every 10 ms), not at a steady rate."""
    python = f"{pyload.TOOL} client in a separate process"
    if tool == "h2load" and not h2load_load.available():
        raise SystemExit("h2load not found: apt-get install nghttp2-client, or --tool python")
    if tool == "h2load" or (tool == "auto" and h2load_load.available()):
        version = subprocess.run(["h2load", "--version"], capture_output=True, text=True)
        name = f"{version.stdout.strip()} (raw gRPC frames over h2c); open loop: {python}"
        return name, h2load_load.run
    progress("h2load not found (Debian: nghttp2-client): using the Python client instead")
    return f"{python} (h2load not found)", pyload.run


def loader_for(scenario: Scenario, closed_loop: Loader) -> Loader:
    return closed_loop if scenario.rate is None else pyload.run


def server_command(target: str, address: str, config: Path) -> list[str]:
    if target == report.FLOOR:
        return [sys.executable, str(BENCH / "floor_server.py"), "--address", address]
    orchestrator = str(Path(sys.executable).with_name("orchestrator"))
    return [orchestrator, "serve", "--config", str(config), "--address", address]


def start_servers(stack: ExitStack, targets: list[str], tmp: Path) -> dict[str, servers.Server]:
    config = tmp / "gateway.yaml"
    config.write_text(workload.GATEWAY_CONFIG)
    started = {}
    for target in targets:
        address = servers.free_address()
        command = server_command(target, address, config)
        log = tmp / f"{target}.log"
        started[target] = stack.enter_context(servers.running(target, command, address, log))
        progress(f"{target} SERVING on {address}")
    return started


def measure(
    loader: Loader,
    scenario: Scenario,
    server: servers.Server,
    replies: verify.Replies,
    durations: tuple[float, float],
) -> Sample:
    warmup_s, duration_s = durations
    if warmup_s > 0:
        loader(scenario.spec(warmup_s), server.address)
    outcomes_before = verify.outcomes(server.address)
    cpu_before = server.cpu_seconds()
    result = loader(scenario.spec(duration_s), server.address)
    server_cpu = server.cpu_seconds() - cpu_before
    outcomes_after = verify.outcomes(server.address)
    counted = None
    if outcomes_before is not None and outcomes_after is not None:
        counted = (outcomes_before, outcomes_after)
    check = verify.verdict(result, scenario.rpc.streaming, replies, counted)
    return Sample(scenario, server.name, result, server_cpu, check)


def run_rounds(
    loader: Loader,
    scenarios: list[Scenario],
    started: dict[str, servers.Server],
    replies: dict[str, verify.Replies],
    args: argparse.Namespace,
) -> list[Sample]:
    samples = []
    for round_no in range(args.rounds):
        for scenario in scenarios:
            order = list(started) if round_no % 2 == 0 else list(reversed(started))
            for target in order:
                durations = (args.warmup, args.duration)
                sample = measure(
                    loader_for(scenario, loader),
                    scenario,
                    started[target],
                    replies[target],
                    durations,
                )
                samples.append(sample)
                progress(f"round {round_no + 1} {summary(figures([sample]))}")
    return samples


def summary(f: Figures) -> str:
    check = "" if f.replies_verified else f"  REPLIES NOT VERIFIED: {f.problems}"
    return (
        f"{f.scenario:<16} {f.target:<8} {f.calls_per_s:>9,.0f} calls/s "
        f"{f.messages_per_s:>9,.0f} msg/s  p50 {f.p50_ms:7.3f} ms  p99 {f.p99_ms:7.3f} ms  "
        f"failed {f.failed}{check}"
    )


def aggregate(samples: list[Sample]) -> dict[str, dict[str, Figures]]:
    grouped: dict[str, dict[str, list[Sample]]] = {}
    for s in samples:
        grouped.setdefault(s.scenario.name, {}).setdefault(s.target, []).append(s)
    return {
        name: {target: figures(group) for target, group in sorted(by_target.items())}
        for name, by_target in grouped.items()
    }


def gateway_revision() -> str:
    """The commit the gateway ran from, and whether server/ had uncommitted changes."""

    def git(*words: str) -> str:
        proc = subprocess.run(["git", *words], cwd=BENCH, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "../server")
    return f"{commit} + uncommitted changes in server/" if dirty else commit


def machine_meta(args: argparse.Namespace, tool: str, argv: Sequence[str] | None) -> dict[str, Any]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    words = list(sys.argv[1:] if argv is None else argv)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "gateway_revision": gateway_revision(),
        "tool": tool,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "command": shlex.join([".venv/bin/python", "bench/run.py", *words]),
    }


def notes(by_scenario: dict[str, dict[str, Figures]]) -> list[str]:
    out = [
        "Replies checked: a real gRPC client checks both servers before and after the load; "
        "under h2load the body bytes must add up to one full reply per call, and the "
        "gateway's own GetMetrics must count no failed call.",
        "Both servers answer without an upstream (the gateway's mock provider has zero "
        "latency), so the ratios isolate the gateway's own overhead; DESIGN.md §8 states its "
        "budgets for an OpenAI-compatible upstream, where the floor also pays for one HTTP call.",
    ]
    shares = [f.loadgen_cpu_share for figs in by_scenario.values() for f in figs.values()]
    if shares:
        out.append(f"Load generator CPU: at most {max(shares):.2f} of a core during any run.")
    out += [
        f"Replies NOT verified in {f.scenario}/{f.target}: {f.problems}"
        for figs in by_scenario.values()
        for f in figs.values()
        if not f.replies_verified
    ]
    return out


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tool, loader = choose_loader(args.tool)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    scenarios = default_scenarios(concurrencies, args.rate, args.streams)
    seconds = len(scenarios) * len(args.targets) * args.rounds * (args.warmup + args.duration)
    progress(f"load generator: {tool}; about {seconds:.0f} s of load")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as stack:
        started = start_servers(stack, args.targets, Path(tmp))
        replies = {name: verify.check_replies(s.address) for name, s in started.items()}
        samples = run_rounds(loader, scenarios, started, replies, args)
        for server in started.values():
            verify.check_replies(server.address, calls=5)  # still answering correctly
    by_scenario = aggregate(samples)
    meta = machine_meta(args, tool, argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(
        args.out / "generate.json", meta, by_scenario, [figures([s]) for s in samples]
    )
    text = report.write_markdown(args.out / "generate.md", meta, by_scenario, notes(by_scenario))
    print(text)
    return (
        0 if all(f.replies_verified for figs in by_scenario.values() for f in figs.values()) else 1
    )


if __name__ == "__main__":
    sys.exit(main())
