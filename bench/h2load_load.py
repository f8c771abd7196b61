"""Load from h2load (nghttp2-client), sending raw gRPC frames over h2c (or, for the HTTP
peers of bench/peers.py, JSON over HTTP/1.1).

h2load counts only HTTP status, and a gRPC error is HTTP 200 with a trailers-only reply (no
body), so the caller checks `data_bytes` against the expected reply size.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadspec import LoadResult, LoadSpec

TOOL = "h2load"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
_MAX_IN_FLIGHT_OPEN_LOOP = 64  # per connection, with --rps
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout"
)
_DATA = re.compile(r"traffic: .*\((\d+)\) data")
_FINISHED = re.compile(r"finished in ([\d.]+)(ms|s),")


class H2LoadError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which(TOOL) is not None


@dataclass(frozen=True)
class Protocol:
    """What h2load speaks: h2c with gRPC headers by default; `h1`: HTTP/1.1, one call at a
    time per connection (no pipelining), so a spec's connections are its calls in flight."""

    headers: tuple[str, ...] = GRPC_HEADERS
    h1: bool = False


GRPC = Protocol()


def command(
    spec: LoadSpec,
    address: str,
    body: Path,
    log: Path,
    protocol: Protocol = GRPC,
    warmup_s: float = 0.0,
) -> list[str]:
    if protocol.h1:
        per_connection = ["--h1", "-m", "1"]
    elif spec.rate is None:
        per_connection = ["-m", str(max(1, spec.concurrency // spec.connections))]
    else:
        rps = max(1, spec.rate // spec.connections)
        per_connection = ["-m", str(_MAX_IN_FLIGHT_OPEN_LOOP), "--rps", str(rps)]
    if spec.calls is not None:
        length = [f"-n{spec.calls}"]
    else:
        length = [f"-D{round(spec.duration_s * 1000)}ms"]
        if warmup_s > 0:
            length.append(f"--warm-up-time={round(warmup_s * 1000)}ms")
    return [
        TOOL,
        "-t1",
        f"-c{spec.connections}",
        *per_connection,
        *length,
        "-d",
        str(body),
        *(option for header in protocol.headers for option in ("-H", header)),
        f"--log-file={log}",
        f"http://{address}{spec.rpc.path}",
    ]


def run(
    spec: LoadSpec,
    address: str,
    protocol: Protocol = GRPC,
    *,
    warmup_s: float = 0.0,
    at_main_start: Callable[[], None] | None = None,
) -> LoadResult:
    """`warmup_s`: h2load's own warm-up, in the same run (calls in flight when the measured
    phase starts, so a slow server's first calls are not missing from it); `at_main_start`
    is called when the measured phase starts (for CPU snapshots). h2load's byte count then
    covers the warm-up too, so the result has none (`data_bytes` None): only for protocols
    whose status says whether a call failed (HTTP/1.1 here), not gRPC."""
    if spec.rate is None and spec.concurrency % spec.connections:
        raise ValueError("concurrency must be a multiple of the number of connections")
    if protocol.h1 and spec.connections != spec.concurrency:
        raise ValueError("HTTP/1.1: one connection per call in flight")
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        body, log = Path(tmp, "body.bin"), Path(tmp, "requests.log")
        body.write_bytes(spec.rpc.body)
        before = _children_cpu()
        cmd = command(spec, address, body, log, protocol, warmup_s)
        out = _run_command(cmd, spec.duration_s + warmup_s + 30, warmup_s, at_main_start)
        cpu = _children_cpu() - before
        latencies = _read_log(log)
    elapsed = spec.duration_s
    if spec.calls is not None:  # a count, not a duration: as long as it took
        finished = _FINISHED.search(out)
        if finished is None:
            raise H2LoadError(f"cannot parse h2load output:\n{out[-1000:]}")
        elapsed = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    result = _parse(out, elapsed, latencies, cpu)
    if warmup_s > 0 and spec.calls is None:
        result.data_bytes = None
        # Its CPU over the measured phase alone, pro rata (it runs at one pace throughout).
        result.loadgen_cpu_s *= spec.duration_s / (spec.duration_s + warmup_s)
    return result


def _run_command(
    cmd: list[str],
    timeout: float,
    warmup_s: float = 0.0,
    at_main_start: Callable[[], None] | None = None,
) -> str:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if at_main_start is not None:
            time.sleep(warmup_s)  # h2load says nothing when its measured phase starts
            at_main_start()
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise H2LoadError(f"h2load exited {proc.returncode}: {err.strip()[-500:]}")
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_log(log: Path) -> list[int]:
    """Durations (µs) of the requests answered with HTTP 200, from h2load's --log-file."""
    durations: list[int] = []
    if not log.exists():
        return durations
    with log.open() as lines:
        for line in lines:
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] == "200":
                durations.append(int(fields[2]))
    return durations


def _parse(out: str, duration_s: float, latencies: list[int], cpu: float) -> LoadResult:
    requests, data = _REQUESTS.search(out), _DATA.search(out)
    if requests is None or data is None:
        raise H2LoadError(f"cannot parse h2load output:\n{out[-1000:]}")
    _total, _started, _done, succeeded, failed, errored, timeout = map(int, requests.groups())
    return LoadResult(
        tool=TOOL,
        elapsed_s=duration_s,
        ok=succeeded,
        failed=failed + errored + timeout,
        latencies_us=sorted(latencies),
        loadgen_cpu_s=cpu,
        data_bytes=int(data.group(1)),
    )
