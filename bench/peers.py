"""The gateway beside a peer gateway, the LiteLLM proxy, on the same zero-latency upstream, in
one run, each against the floor of its protocol; writes results/peers.{json,md}.

    make bench-peers        # installs LiteLLM (pinned) into bench/.peers-venv, then runs this
    .venv/bin/python bench/peers.py --litellm bench/.peers-venv/bin/litellm [--rounds 3]

Targets, all calling bench/upstream.py (its own process) over loopback:
- floor (gRPC): bench/floor_server.py --upstream, DESIGN.md §8's floor;
- gateway (gRPC): `orchestrator serve`, one `kind: openai` provider (as in bench/run.py);
- http-floor (HTTP/1.1): bench/http_floor.py, one aiohttp relay call per request;
- litellm (HTTP/1.1): `litellm --config` (one worker), one `openai/` model on the upstream,
  a master key (it refuses to start without one), no database, offline.
h2load drives each with its own protocol: raw gRPC frames over h2c on min(N, 4) connections
for the gRPC targets, JSON over HTTP/1.1 on N connections (one call at a time each, no
pipelining) for the HTTP ones. Scenarios: 64 calls in flight (throughput, server CPU per call)
and 1 in flight (latency). "Added p50" is a target's p50 at 1 in flight minus its protocol
floor's, from the same round. Figures are medians over the rounds, with their range.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import h2load_load
import meta
import servers
import verify
import workload
from loadspec import LoadResult, LoadSpec, connections_for, percentile

BENCH = Path(__file__).resolve().parent
GRPC, HTTP = "gRPC", "HTTP/1.1"
LITELLM_READY_TRIES = 600  # about two minutes: its start-up imports take a while
CONCURRENCY = {"c64": 64, "c1": 1}


@dataclass(frozen=True)
class Target:
    name: str
    protocol: str
    floor: str  # the floor of its protocol (itself, for a floor)


TARGETS = [
    Target("floor", GRPC, "floor"),
    Target("gateway", GRPC, "floor"),
    Target("http-floor", HTTP, "http-floor"),
    Target("litellm", HTTP, "http-floor"),
]


@dataclass
class Round:
    """One measurement of one target in one scenario."""

    round: int
    target: str
    scenario: str
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_call: float
    upstream_cpu_us_per_call: float
    loadgen_cpu_share: float
    other_cpu_share: float
    ok: int
    failed: int
    verified: bool
    problems: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--litellm", type=Path, help="the litellm executable of its own venv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each one")
    parser.add_argument(
        "--http-warmup",
        type=float,
        default=5.0,
        help="HTTP targets: seconds of warm-up inside the measured run (a slow proxy's calls "
        "at 64 in flight take seconds: the pipeline must be full when measuring starts)",
    )
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    if args.litellm is None or not args.litellm.exists():
        parser.error("--litellm: the proxy's executable (make bench-peers installs it)")
    if not 1 <= args.rounds <= 9 or not 0 < args.duration <= 60:
        parser.error("bounds: 1 <= rounds <= 9, 0 < duration <= 60")
    if not 0 <= args.warmup <= 10 or not 0 <= args.http_warmup <= 30:
        parser.error("bounds: 0 <= warmup <= 10, 0 <= http warmup <= 30")
    return args


# -- the servers ------------------------------------------------------------------------------


def litellm_version(executable: Path) -> str:
    python = executable.with_name("python")
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def litellm_env(home: Path, key: str) -> dict[str, str]:
    """Its whole environment: no proxy variables or keys inherited, and nothing fetched (the
    model price map comes from the package; offline mode skips every other fetch)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LITELLM_MASTER_KEY": key,
        "LITELLM_OFFLINE_MODE": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "NO_PROXY": "*",
    }


def litellm_config(upstream_url: str) -> str:
    return (
        "model_list:\n"
        f"  - model_name: {workload.UPSTREAM_MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{workload.UPSTREAM_MODEL}\n"
        f"      api_base: {upstream_url}\n"
        "      api_key: bench-upstream-checks-no-key\n"
    )


def start_all(
    stack: ExitStack, tmp: Path, litellm: Path, key: str
) -> tuple[servers.Server, dict[str, servers.Server]]:
    python = sys.executable
    address = servers.free_address()
    upstream = stack.enter_context(
        servers.running(
            "upstream",
            [python, str(BENCH / "upstream.py"), "--address", address],
            address,
            tmp / "upstream.log",
            ready=servers.wait_http_ready,
        )
    )
    url = f"http://{upstream.address}/v1"
    (tmp / "gateway.yaml").write_text(workload.gateway_upstream_config(url))
    (tmp / "litellm.yaml").write_text(litellm_config(url))
    orchestrator = str(Path(python).with_name("orchestrator"))
    commands = {
        "floor": [python, str(BENCH / "floor_server.py"), "--upstream", url, "--address"],
        "gateway": [orchestrator, "serve", "--config", str(tmp / "gateway.yaml"), "--address"],
        "http-floor": [python, str(BENCH / "http_floor.py"), "--upstream", url, "--address"],
    }
    started: dict[str, servers.Server] = {}
    for name, command in commands.items():
        address = servers.free_address()
        ready = None if name != "http-floor" else _http_ready("/health", servers.READY_TRIES)
        started[name] = stack.enter_context(
            servers.running(name, [*command, address], address, tmp / f"{name}.log", ready)
        )
        progress(f"{name} answering on {address}")
    address = servers.free_address()
    host, port = address.rsplit(":", 1)
    command = [str(litellm), "--config", str(tmp / "litellm.yaml"), "--host", host, "--port", port]
    started["litellm"] = stack.enter_context(
        servers.running(
            "litellm",
            [*command, "--num_workers", "1"],
            address,
            tmp / "litellm.log",
            ready=_http_ready("/health/liveliness", LITELLM_READY_TRIES),
            env=litellm_env(tmp, key),
        )
    )
    progress(f"litellm answering on {address}")
    return upstream, started


def _http_ready(path: str, tries: int) -> Any:
    return lambda server: servers.wait_http_ready(server, path, tries)


# -- replies ----------------------------------------------------------------------------------


def http_chat(address: str, key: str) -> bytes:
    request = urllib.request.Request(
        f"http://{address}{workload.CHAT_PATH}",
        data=workload.HTTP_CHAT.body,
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=verify.CALL_TIMEOUT_S) as reply:
        return bytes(reply.read())


def check_http(address: str, key: str, calls: int = 20) -> verify.SizeRange:
    """Real calls: each answer must carry the upstream's reply text. Returns the body sizes
    seen, widened by a tenth (ids and timestamps vary) to check h2load's byte count."""
    sizes = []
    for _ in range(calls):
        body = http_chat(address, key)
        text = json.loads(body)["choices"][0]["message"]["content"]
        if text != workload.REPLY:
            raise verify.ReplyError(f"{address}: unexpected reply {text!r}")
        sizes.append(len(body))
    return verify.SizeRange(int(min(sizes) * 0.9), math.ceil(max(sizes) * 1.1))


# -- measuring --------------------------------------------------------------------------------


def load(
    target: Target,
    concurrency: int,
    duration: float,
    address: str,
    key: str,
    at_main_start: Callable[[], None],
    warmup_s: float,
) -> LoadResult:
    """gRPC: a warm-up run, then the measured one (the byte count checks every reply).
    HTTP: h2load's warm-up inside the measured run, so the calls in flight when measuring
    starts are counted when they end: at 64 in flight a slow proxy's calls take seconds,
    and a run starting empty would miss a large share of them."""
    if target.protocol == GRPC:
        spec = LoadSpec(workload.GENERATE, concurrency, connections_for(concurrency), duration)
        if warmup_s > 0:
            h2load_load.run(dataclasses.replace(spec, duration_s=warmup_s), address)
        at_main_start()
        return h2load_load.run(spec, address)
    spec = LoadSpec(workload.HTTP_CHAT, concurrency, concurrency, duration)
    headers = ("content-type: application/json", f"authorization: Bearer {key}")
    protocol = h2load_load.Protocol(headers, h1=True)
    return h2load_load.run(spec, address, protocol, warmup_s=warmup_s, at_main_start=at_main_start)


@dataclass
class Snapshot:
    """CPU times at the start of the measured phase, made negative; `stop` adds the ends."""

    server: servers.Server
    upstream: servers.Server
    cpu: float = 0.0
    upstream_cpu: float = 0.0
    busy: float = 0.0
    window: float = 0.0

    def start(self) -> None:
        self.cpu, self.upstream_cpu = -self.server.cpu_seconds(), -self.upstream.cpu_seconds()
        self.busy, self.window = -servers.machine_busy_seconds(), -time.perf_counter()

    def stop(self) -> None:
        self.window += time.perf_counter()
        self.busy += servers.machine_busy_seconds()
        self.cpu += self.server.cpu_seconds()
        self.upstream_cpu += self.upstream.cpu_seconds()


def measure(
    round_no: int,
    target: Target,
    scenario: str,
    server: servers.Server,
    upstream: servers.Server,
    replies: verify.Replies,
    args: argparse.Namespace,
    key: str,
) -> Round:
    if args.quiet_wait > 0 and servers.wait_quiet(args.quiet_wait) >= args.quiet_wait:
        progress(f"machine still busy after {args.quiet_wait:g} s: measuring anyway")
    # Counted from before any load (warm-up included): every call counted must have had its
    # own upstream completion.
    counts_before = verify.upstream_counts(upstream.address)
    outcomes_before = verify.outcomes(server.address) if target.name == "gateway" else None
    snap = Snapshot(server, upstream)
    concurrency = CONCURRENCY[scenario]
    warmup = args.warmup if target.protocol == GRPC else args.http_warmup
    result = load(target, concurrency, args.duration, server.address, key, snap.start, warmup)
    snap.stop()
    counted = None
    if outcomes_before is not None:
        after = verify.outcomes(server.address)
        counted = None if after is None else (outcomes_before, after)
    counts = (counts_before, verify.upstream_counts(upstream.address))
    check = verify.verdict(result, False, replies, counted, counts)
    problems = [check.detail] if check.detail else []
    if result.ok == 0:
        problems.append(f"no call finished within {args.duration:g} s")
    ok = max(result.ok, 1)
    other = snap.busy - snap.cpu - snap.upstream_cpu - result.loadgen_cpu_s
    return Round(
        round=round_no,
        target=target.name,
        scenario=scenario,
        calls_per_s=result.ok / result.elapsed_s,
        p50_ms=percentile(result.latencies_us, 50) / 1000,
        p99_ms=percentile(result.latencies_us, 99) / 1000,
        server_cpu_us_per_call=snap.cpu / ok * 1e6,
        upstream_cpu_us_per_call=snap.upstream_cpu / ok * 1e6,
        loadgen_cpu_share=result.loadgen_cpu_s / snap.window,
        other_cpu_share=max(0.0, other) / snap.window,
        ok=result.ok,
        failed=result.failed,
        verified=not problems,
        problems="; ".join(problems),
    )


def run_rounds(
    args: argparse.Namespace,
    started: dict[str, servers.Server],
    upstream: servers.Server,
    replies: dict[str, verify.Replies],
    key: str,
) -> list[Round]:
    rounds = []
    for round_no in range(args.rounds):
        order = TARGETS if round_no % 2 == 0 else list(reversed(TARGETS))
        for scenario in CONCURRENCY:
            for target in order:
                r = measure(
                    round_no + 1,
                    target,
                    scenario,
                    started[target.name],
                    upstream,
                    replies[target.name],
                    args,
                    key,
                )
                rounds.append(r)
                check = "" if r.verified else f"  NOT VERIFIED: {r.problems}"
                progress(
                    f"round {r.round} {scenario:<4} {r.target:<10} {r.calls_per_s:>8,.0f} calls/s"
                    f"  p50 {r.p50_ms:8.3f} ms  CPU {r.server_cpu_us_per_call:>7,.0f} µs/call"
                    f"  other {r.other_cpu_share:.2f}{check}"
                )
    return rounds


# -- summary ----------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(rounds: list[Round]) -> dict[str, dict[str, Any]]:
    def pick(target: str, scenario: str, field: str) -> list[float]:
        return [
            getattr(r, field)
            for r in sorted(rounds, key=lambda r: r.round)
            if r.target == target and r.scenario == scenario
        ]

    out: dict[str, dict[str, Any]] = {}
    for t in TARGETS:
        c64, c1 = pick(t.name, "c64", "calls_per_s"), pick(t.name, "c1", "calls_per_s")
        floor64 = pick(t.floor, "c64", "calls_per_s")
        p50, floor_p50 = pick(t.name, "c1", "p50_ms"), pick(t.floor, "c1", "p50_ms")
        out[t.name] = {
            "protocol": t.protocol,
            "floor": t.floor,
            "calls_per_s_c64": spread(c64),
            "ratio_to_floor_c64": spread([a / b for a, b in zip(c64, floor64, strict=True)]),
            "calls_per_s_c1": spread(c1),
            "p50_ms_c1": spread(p50),
            "added_p50_ms_c1": spread([a - b for a, b in zip(p50, floor_p50, strict=True)]),
            "p99_ms_c64": spread(pick(t.name, "c64", "p99_ms")),
            "server_cpu_us_per_call_c64": spread(pick(t.name, "c64", "server_cpu_us_per_call")),
            "verified": all(r.verified for r in rounds if r.target == t.name),
        }
    gateway, litellm = pick("gateway", "c64", "calls_per_s"), pick("litellm", "c64", "calls_per_s")
    out["gateway"]["times_litellm_c64"] = spread(
        [a / b for a, b in zip(gateway, litellm, strict=True) if b]
    )
    return out


def _fmt(s: dict[str, float], digits: int = 0, unit: str = "") -> str:
    if math.isnan(s["median"]):
        return "n/a"
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])} to {f.format(s['max'])})"


def markdown(info: dict[str, Any], summary: dict[str, dict[str, Any]], rounds: list[Round]) -> str:
    lines = [
        "# Peer gateways: the gateway and the LiteLLM proxy on one upstream",
        "",
        *meta.header_lines(info),
        f"- LiteLLM {info['litellm_version']} in its own venv (bench/.peers-venv), one worker, "
        "offline (LITELLM_OFFLINE_MODE, LITELLM_LOCAL_MODEL_COST_MAP), a master key, no database",
        f"- load generator: {info['tool']}",
        f"- {info['rounds']} rounds of {info['duration_s']:g} s per target and scenario after "
        f"{info['warmup_s']:g} s of warm-up ({info['http_warmup_s']:g} s for the HTTP targets); "
        "targets alternate, their order reversed each round",
        "",
        "All four call the same zero-latency OpenAI-style upstream (bench/upstream.py) over "
        "loopback. The gRPC targets get raw gRPC frames over h2c on min(N, 4) connections; the "
        "HTTP targets get JSON over HTTP/1.1 on N connections, one call at a time each (no "
        "pipelining): each protocol as its clients use it. Each target is compared with the "
        "floor of its own protocol: a bare relay making one aiohttp call per request "
        "(floor_server.py for gRPC, http_floor.py for HTTP).",
        "",
        "Medians over the rounds, with their range in brackets.",
        "",
        "| target | protocol | calls/s, 64 in flight | / its floor | calls/s, 1 in flight | "
        "p50 ms, 1 in flight | added p50 ms | server CPU µs/call, 64 in flight | replies checked |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in TARGETS:
        s = summary[t.name]
        added = "—" if t.floor == t.name else _fmt(s["added_p50_ms_c1"], 2)
        ratio = "—" if t.floor == t.name else _fmt(s["ratio_to_floor_c64"], 2)
        lines.append(
            f"| {t.name} | {t.protocol} | {_fmt(s['calls_per_s_c64'])} | {ratio} | "
            f"{_fmt(s['calls_per_s_c1'])} | {_fmt(s['p50_ms_c1'], 2)} | {added} | "
            f"{_fmt(s['server_cpu_us_per_call_c64'])} | {'yes' if s['verified'] else '**NO**'} |"
        )
    times = summary["gateway"]["times_litellm_c64"]
    busiest = max((r.other_cpu_share for r in rounds), default=0.0)
    lines += [
        "",
        f"The gateway served {_fmt(times, 1)} times LiteLLM's calls/s at 64 in flight.",
        "",
        "## Notes",
        "",
        "- Replies checked: real calls before and after the load must return the upstream's "
        "text; under load h2load must see no failed call (HTTP errors included), for the gRPC "
        "targets the body bytes must come to one reply per call (a gRPC error is an HTTP 200 "
        "without one), the gateway's GetMetrics must count no failure, and the upstream's own "
        "counters must show one completion served per call.",
        "- Warm-up: the gRPC targets get a warm-up run before each measured one; the HTTP "
        "targets get h2load's --warm-up-time inside it, so that calls in flight when measuring "
        "starts count when they end (a slow proxy's calls at 64 in flight take seconds: a run "
        "starting empty would miss a large share of them).",
        "- Server CPU is the target's process and the processes it started (/proc); the "
        "upstream's and the load generator's are measured apart (in the JSON).",
        f"- Other processes used up to {busiest:.2f} of a core during a measurement "
        "(other_cpu_share in the JSON): figures taken beside other jobs move, so compare "
        "within a round, as ratios.",
        "",
    ]
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if not h2load_load.available():
        raise SystemExit("h2load not found: apt-get install nghttp2-client")
    info = {
        **meta.run_meta("peers.py", argv),
        "litellm_version": litellm_version(args.litellm),
        "tool": subprocess.run(
            ["h2load", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "http_warmup_s": args.http_warmup,
    }
    key = "sk-" + secrets.token_hex(32)  # LiteLLM's master key for this run only
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, ExitStack() as stack:
        upstream, started = start_all(stack, Path(tmp), args.litellm, key)
        replies: dict[str, verify.Replies] = {}
        for t in TARGETS:
            if t.protocol == GRPC:
                replies[t.name] = verify.check_replies(started[t.name].address)
            else:
                size = check_http(started[t.name].address, key)
                replies[t.name] = verify.Replies(size, size, 1)
        rounds = run_rounds(args, started, upstream, replies, key)
        for t in TARGETS:  # still answering correctly
            if t.protocol == GRPC:
                verify.check_replies(started[t.name].address, calls=5)
            else:
                check_http(started[t.name].address, key, calls=5)
    summary = summarize(rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"meta": info, "summary": summary, "rounds": [asdict(r) for r in rounds]}
    (args.out / "peers.json").write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    text = markdown(info, summary, rounds)
    (args.out / "peers.md").write_text(text)
    print(text)
    return 0 if all(s["verified"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
