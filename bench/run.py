"""Benchmarks the gateway against the floor server in one run; writes bench/results/.

    .venv/bin/python bench/run.py [--suite mock|upstream|all] [--duration 5] [--rounds 2]
                                  [--tool auto|h2load|python]

Two suites, each with its own pair of servers:
- mock: the gateway with a zero-latency mock provider against a floor with canned replies
  (generate.json, generate.md);
- upstream: DESIGN.md §8's comparison. A zero-latency OpenAI-style upstream
  (bench/upstream.py) in its own process; the gateway with one `kind: openai` provider on it,
  against a floor that makes one aiohttp call to it per RPC (upstream.json, upstream.md).
For each suite: starts the processes on loopback ports, checks the replies with a real gRPC
client, runs every scenario against each server (alternating, a warm-up before each
measurement), checks the replies again, stops every process (also on error) and writes its
results.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import grpc

import h2load_load
import pyload
import report
import servers
import verify
import workload
from loadspec import LoadResult, LoadSpec
from meta import run_meta
from scenarios import (
    Figures,
    Sample,
    Scenario,
    default_scenarios,
    figures,
    upstream_scenarios,
)

BENCH = Path(__file__).resolve().parent
MOCK, UPSTREAM = "mock", "upstream"
OTHER_CPU_WARN = report.OTHER_CPU_WARN
STREAM_RATE = 200  # upstream suite: open-loop streams/s for time to first token


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gateway vs floor benchmark")
    parser.add_argument("--suite", choices=[MOCK, UPSTREAM, "all"], default="all")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each one")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per scenario")
    parser.add_argument("--concurrency", default="1,16,64", help="mock: closed-loop levels")
    parser.add_argument(
        "--upstream-concurrency", type=int, default=64, help="upstream: closed-loop level"
    )
    parser.add_argument("--rate", type=int, default=1000, help="open-loop calls/s (0: skip)")
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams (0: skip)")
    parser.add_argument(
        "--stream-rate",
        type=int,
        default=STREAM_RATE,
        help="upstream: open-loop streams/s timed to the first delta (0: skip)",
    )
    parser.add_argument(
        "--write-each-frame",
        action="store_true",
        help="upstream: one write per SSE frame (default: a stream's frames in one write)",
    )
    parser.add_argument("--tool", choices=["auto", "h2load", "python"], default="auto")
    parser.add_argument(
        "--remeasure",
        type=int,
        default=2,
        help="times a measurement is repeated when other processes used CPU during it",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="seconds to wait at most, before each measurement, for the machine to go idle",
    )
    parser.add_argument("--targets", default="floor,gateway", help="comma-separated")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or not 0 <= args.warmup <= 10 or not 1 <= args.rounds <= 5:
        parser.error("bounds: 0 < duration <= 60, 0 <= warmup <= 10, 1 <= rounds <= 5")
    if not 0 <= args.quiet_wait <= 60 or not 0 <= args.remeasure <= 5:
        parser.error("bounds: 0 <= quiet wait <= 60, 0 <= remeasure <= 5")
    if not 1 <= args.upstream_concurrency <= 1000 or not 0 <= args.stream_rate <= 5000:
        parser.error("bounds: 1 <= upstream concurrency <= 1000, 0 <= stream rate <= 5000")
    args.targets = [t for t in args.targets.split(",") if t]
    if not set(args.targets) <= {report.FLOOR, report.GATEWAY}:
        parser.error("targets are floor and/or gateway")
    return args


class Snapshots:
    """The server's (and the upstream's) counters and CPU times, and the machine's, taken
    right before and right after a measured phase (the load generator calls start/stop)."""

    def __init__(self, server: servers.Server, upstream: servers.Server | None) -> None:
        self.server, self.upstream = server, upstream
        self.outcomes: list[verify.Outcomes | None] = []
        self.counts: list[verify.UpstreamCounts] = []
        self.server_cpu = self.upstream_cpu = self.busy = self.window = 0.0

    def start(self) -> None:
        self.outcomes.append(verify.outcomes(self.server.address))
        if self.upstream is not None:
            self.counts.append(verify.upstream_counts(self.upstream.address))
            self.upstream_cpu = -self.upstream.cpu_seconds()
        self.busy, self.window = -servers.machine_busy_seconds(), -time.perf_counter()
        self.server_cpu = -self.server.cpu_seconds()

    def stop(self) -> None:
        self.server_cpu += self.server.cpu_seconds()
        self.busy += servers.machine_busy_seconds()
        self.window += time.perf_counter()
        if self.upstream is not None:
            self.upstream_cpu += self.upstream.cpu_seconds()
            self.counts.append(verify.upstream_counts(self.upstream.address))


Loader = Callable[[LoadSpec, str, float, Snapshots], LoadResult]


def h2load_loader(spec: LoadSpec, address: str, warmup_s: float, window: Snapshots) -> LoadResult:
    if warmup_s > 0:
        h2load_load.run(dataclasses.replace(spec, duration_s=warmup_s), address)
    window.start()
    result = h2load_load.run(spec, address)
    window.stop()
    return result


def python_loader(spec: LoadSpec, address: str, warmup_s: float, window: Snapshots) -> LoadResult:
    return pyload.run(spec, address, warmup_s, window)


def choose_loader(tool: str) -> tuple[str, Loader]:
    """h2load for the closed-loop runs when present. Open-loop runs always use the Python
    client: h2load's --rps sends in bursts (about every 10 ms), not at a steady rate."""
    python = f"{pyload.TOOL} client in a separate process"
    if tool == "h2load" and not h2load_load.available():
        raise SystemExit("h2load not found: apt-get install nghttp2-client, or --tool python")
    if tool == "h2load" or (tool == "auto" and h2load_load.available()):
        version = subprocess.run(["h2load", "--version"], capture_output=True, text=True)
        name = f"{version.stdout.strip()} (raw gRPC frames over h2c); open loop: {python}"
        return name, h2load_loader
    progress("h2load not found (Debian: nghttp2-client): using the Python client instead")
    return f"{python} (h2load not found)", python_loader


def loader_for(scenario: Scenario, closed_loop: Loader) -> Loader:
    return closed_loop if scenario.rate is None else python_loader


@dataclass
class Suite:
    """Which servers one suite compares, on which scenarios, written where."""

    name: str
    stem: str  # results/<stem>.json and .md
    title: str
    about: list[str]
    scenarios: list[Scenario]
    budgets: list[report.Budget]
    budget_heading: str
    upstream_args: list[str] = field(default_factory=list)  # bench/upstream.py options


def suites(args: argparse.Namespace) -> list[Suite]:
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    mock = Suite(
        MOCK,
        "generate",
        "Generate benchmark: gateway vs floor (mock provider)",
        [
            "Gateway: `orchestrator serve` with one zero-latency mock provider (first-available).",
            "Floor: bench/floor_server.py, a bare grpc.aio server on uvloop returning fixed "
            "replies.",
        ],
        default_scenarios(concurrencies, args.rate, args.streams),
        report.BUDGETS,
        "DESIGN §8 budgets, applied to this mock floor for reference only (§8 sets them "
        "against a floor that calls an upstream: see upstream.md)",
    )
    frames = "one write per SSE frame" if args.write_each_frame else "a stream in one write"
    upstream = Suite(
        UPSTREAM,
        "upstream",
        "Generate benchmark: gateway vs floor, through an OpenAI-compatible upstream",
        [
            "Upstream: bench/upstream.py, a zero-latency OpenAI-style server (aiohttp on "
            f"uvloop, its own process, {frames}) that both servers call over loopback.",
            "Gateway: `orchestrator serve` with one `kind: openai` provider on it "
            "(base_url http://127.0.0.1:PORT/v1, retries 0, include_usage).",
            "Floor (DESIGN §8): bench/floor_server.py --upstream, a bare grpc.aio server on "
            "uvloop whose handlers make one aiohttp call to the upstream through one shared "
            "ClientSession (streams: SSE chunks relayed as deltas); no routing, no validation.",
        ],
        upstream_scenarios(args.upstream_concurrency, args.rate, args.streams, args.stream_rate),
        report.UPSTREAM_BUDGETS,
        "DESIGN §8 budgets",
        ["--write-each-frame"] if args.write_each_frame else [],
    )
    chosen = [MOCK, UPSTREAM] if args.suite == "all" else [args.suite]
    return [s for s in (mock, upstream) if s.name in chosen]


def server_command(target: str, address: str, config: Path, upstream_url: str | None) -> list[str]:
    if target == report.FLOOR:
        command = [sys.executable, str(BENCH / "floor_server.py"), "--address", address]
        return command + (["--upstream", upstream_url] if upstream_url else [])
    orchestrator = str(Path(sys.executable).with_name("orchestrator"))
    return [orchestrator, "serve", "--config", str(config), "--address", address]


def start_upstream(stack: ExitStack, tmp: Path, options: list[str]) -> servers.Server:
    address = servers.free_address()
    command = [sys.executable, str(BENCH / "upstream.py"), "--address", address, *options]
    upstream = stack.enter_context(
        servers.running(
            UPSTREAM, command, address, tmp / "upstream.log", ready=servers.wait_http_ready
        )
    )
    progress(f"upstream answering on http://{address}")
    return upstream


def start_servers(
    stack: ExitStack, targets: list[str], tmp: Path, upstream: servers.Server | None
) -> dict[str, servers.Server]:
    config = tmp / "gateway.yaml"
    upstream_url = None if upstream is None else f"http://{upstream.address}/v1"
    if upstream_url is None:
        config.write_text(workload.GATEWAY_CONFIG)
    else:
        config.write_text(workload.gateway_upstream_config(upstream_url))
    started = {}
    for target in targets:
        address = servers.free_address()
        command = server_command(target, address, config, upstream_url)
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
    upstream: servers.Server | None = None,
) -> Sample:
    warmup_s, duration_s = durations
    snap = Snapshots(server, upstream)
    result = loader(scenario.spec(duration_s), server.address, warmup_s, snap)
    outcomes_after = verify.outcomes(server.address)
    outcomes_before = snap.outcomes[0] if snap.outcomes else None
    counted = None
    if outcomes_before is not None and outcomes_after is not None:
        counted = (outcomes_before, outcomes_after)
    upstream_counted = (snap.counts[0], snap.counts[1]) if len(snap.counts) == 2 else None
    check = verify.verdict(result, scenario.rpc.streaming, replies, counted, upstream_counted)
    accounted = snap.server_cpu + snap.upstream_cpu + result.loadgen_cpu_s
    return Sample(
        scenario,
        server.name,
        result,
        snap.server_cpu,
        check,
        upstream_cpu_s=None if upstream is None else snap.upstream_cpu,
        other_cpu_s=max(0.0, snap.busy - accounted),
        window_s=snap.window,
    )


def disturbance(sample: Sample) -> float:
    """Other processes' CPU during the measurement, in cores."""
    return sample.other_cpu_s / sample.window_s if sample.window_s > 0 else 0.0


def measure_quietly(
    loader: Loader,
    scenario: Scenario,
    server: servers.Server,
    replies: verify.Replies,
    args: argparse.Namespace,
    upstream: servers.Server | None,
) -> Sample:
    """Waits for the machine to go idle, measures; measures again (at most --remeasure times)
    while other processes used more than OTHER_CPU_WARN cores, keeping the quietest."""
    tries = []
    for _ in range(1 + args.remeasure):
        if args.quiet_wait > 0 and servers.wait_quiet(args.quiet_wait) >= args.quiet_wait:
            progress(f"machine still busy after {args.quiet_wait:g} s: measuring anyway")
        durations = (args.warmup, args.duration)
        sample = measure(loader, scenario, server, replies, durations, upstream)
        tries.append(sample)
        if disturbance(sample) <= OTHER_CPU_WARN:
            break
        progress(
            f"{scenario.name} {server.name}: other processes used "
            f"{disturbance(sample):.2f} of a core meanwhile"
        )
    best = min(tries, key=disturbance)
    best.tries = len(tries)
    return best


def run_rounds(
    loader: Loader,
    scenarios: list[Scenario],
    started: dict[str, servers.Server],
    replies: dict[str, verify.Replies],
    args: argparse.Namespace,
    upstream: servers.Server | None = None,
) -> list[Sample]:
    samples = []
    for round_no in range(args.rounds):
        for scenario in scenarios:
            order = list(started) if round_no % 2 == 0 else list(reversed(started))
            for target in order:
                sample = measure_quietly(
                    loader_for(scenario, loader),
                    scenario,
                    started[target],
                    replies[target],
                    args,
                    upstream,
                )
                samples.append(sample)
                progress(f"round {round_no + 1} {summary(figures([sample]))}")
    return samples


def summary(f: Figures) -> str:
    check = "" if f.replies_verified else f"  REPLIES NOT VERIFIED: {f.problems}"
    ttft = "" if f.ttft_p99_ms != f.ttft_p99_ms else f"  TTFT p99 {f.ttft_p99_ms:7.3f} ms"
    return (
        f"{f.scenario:<16} {f.target:<8} {f.calls_per_s:>9,.0f} calls/s "
        f"{f.messages_per_s:>9,.0f} msg/s  p50 {f.p50_ms:7.3f} ms  p99 {f.p99_ms:7.3f} ms{ttft}  "
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


def machine_meta(
    args: argparse.Namespace, tool: str, argv: Sequence[str] | None, suite: Suite
) -> dict[str, Any]:
    meta = {
        **run_meta("run.py", argv),
        "suite": suite.name,
        "grpcio": grpc.__version__,
        "tool": tool,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
    }
    if suite.name == UPSTREAM:
        meta["aiohttp"] = aiohttp.__version__
        meta["upstream_write_each_frame"] = args.write_each_frame
    return meta


def _all(by_scenario: dict[str, dict[str, Figures]]) -> list[Figures]:
    return [f for figs in by_scenario.values() for f in figs.values()]


def notes(
    suite: Suite, by_scenario: dict[str, dict[str, Figures]], samples: list[Sample]
) -> list[str]:
    out = [
        "Replies checked: a real gRPC client checks both servers before and after the load; "
        "under h2load the body bytes must add up to one full reply per call, and the "
        "gateway's own GetMetrics must count no failed call."
    ]
    if suite.name == MOCK:
        out.append(
            "Both servers answer without an upstream (the gateway's mock provider has zero "
            "latency), so the ratios isolate the gateway's own overhead; DESIGN.md §8 states "
            "its budgets for an OpenAI-compatible upstream, where the floor also pays for one "
            "HTTP call: that comparison is upstream.md."
        )
    else:
        out += [
            "The upstream's own counters (GET /stats) must show at least one completion or "
            "stream served per call counted, and no rejected request.",
            "Server CPU is the gRPC server process alone; the upstream's CPU is measured on "
            "its own process and shown apart. The machine's cores are shared by the load "
            "generator, the server under test and the upstream.",
            "Time to first token (TTFT): the Python client, open loop, from each stream's "
            "scheduled send time to its first delta message; added TTFT p99 = gateway's p99 "
            "minus the floor's, from the same run.",
        ]
        shares = [
            f.upstream_cpu_share
            for f in _all(by_scenario)
            if f.upstream_cpu_share == f.upstream_cpu_share
        ]
        if shares:
            out.append(f"Upstream CPU: at most {max(shares):.2f} of a core during any run.")
    shares = [f.loadgen_cpu_share for f in _all(by_scenario)]
    if shares:
        out.append(f"Load generator CPU: at most {max(shares):.2f} of a core during any run.")
    out.append(
        "Other processes: before each measurement the run waits (up to --quiet-wait s) for "
        "the machine to go idle; the CPU used meanwhile by anything but the server, the "
        "upstream and the load generator is in the JSON (other_cpu_share). A measurement "
        f"beside more than {OTHER_CPU_WARN:g} of a core of it is repeated (--remeasure, "
        "keeping the quietest try)."
    )
    repeated = [s for s in samples if s.tries > 1]
    if repeated:
        out.append(
            f"Repeated because of other processes: {len(repeated)} of {len(samples)} measurements."
        )
    busy = [f for f in _all(by_scenario) if f.other_cpu_share > OTHER_CPU_WARN]
    out += [
        f"Disturbed: {f.scenario}/{f.target} ran beside {f.other_cpu_share:.2f} of a core of "
        "other processes' CPU (pooled over its rounds); read its figures with care."
        for f in busy
    ]
    out += [
        f"Replies NOT verified in {f.scenario}/{f.target}: {f.problems}"
        for f in _all(by_scenario)
        if not f.replies_verified
    ]
    return out


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_suite(
    suite: Suite, args: argparse.Namespace, tool: str, loader: Loader, argv: Sequence[str] | None
) -> bool:
    """Runs one suite and writes its results; True when every reply was verified."""
    progress(f"suite {suite.name}: {', '.join(s.name for s in suite.scenarios)}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as stack:
        upstream = None
        if suite.name == UPSTREAM:
            upstream = start_upstream(stack, Path(tmp), suite.upstream_args)
        started = start_servers(stack, args.targets, Path(tmp), upstream)
        replies = {name: verify.check_replies(s.address) for name, s in started.items()}
        samples = run_rounds(loader, suite.scenarios, started, replies, args, upstream)
        for server in started.values():
            verify.check_replies(server.address, calls=5)  # still answering correctly
    by_scenario = aggregate(samples)
    meta = machine_meta(args, tool, argv, suite)
    args.out.mkdir(parents=True, exist_ok=True)
    per_round = [figures([s]) for s in samples]
    report.write_json(args.out / f"{suite.stem}.json", meta, by_scenario, per_round, suite.budgets)
    text = report.write_markdown(
        args.out / f"{suite.stem}.md",
        meta,
        by_scenario,
        notes(suite, by_scenario, samples),
        title=suite.title,
        about=suite.about,
        budgets=suite.budgets,
        budget_heading=suite.budget_heading,
    )
    print(text)
    return all(f.replies_verified for f in _all(by_scenario))


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every started process is stopped on the way out."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    tool, loader = choose_loader(args.tool)
    chosen = suites(args)
    measurements = sum(len(s.scenarios) for s in chosen) * len(args.targets) * args.rounds
    seconds = measurements * (args.warmup + args.duration)
    progress(f"load generator: {tool}; about {seconds:.0f} s of load")
    verified = [run_suite(suite, args, tool, loader, argv) for suite in chosen]
    return 0 if all(verified) else 1


if __name__ == "__main__":
    sys.exit(main())
