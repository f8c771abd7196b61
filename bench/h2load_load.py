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
from collections.abc import Sequence
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


def command(
    spec: LoadSpec,
    address: str,
    body: Path,
    log: Path,
    headers: Sequence[str] = GRPC_HEADERS,
    h1: bool = False,
) -> list[str]:
    """h2c with gRPC headers by default; `h1`: HTTP/1.1, one call at a time per connection
    (no pipelining), so `spec.connections` must equal the calls in flight."""
    if h1:
        per_connection = ["--h1", "-m", "1"]
    elif spec.rate is None:
        per_connection = ["-m", str(max(1, spec.concurrency // spec.connections))]
    else:
        rps = max(1, spec.rate // spec.connections)
        per_connection = ["-m", str(_MAX_IN_FLIGHT_OPEN_LOOP), "--rps", str(rps)]
    return [
        TOOL,
        "-t1",
        f"-c{spec.connections}",
        *per_connection,
        f"-D{round(spec.duration_s * 1000)}ms" if spec.calls is None else f"-n{spec.calls}",
        "-d",
        str(body),
        *(option for header in headers for option in ("-H", header)),
        f"--log-file={log}",
        f"http://{address}{spec.rpc.path}",
    ]


def run(
    spec: LoadSpec, address: str, headers: Sequence[str] = GRPC_HEADERS, h1: bool = False
) -> LoadResult:
    if spec.rate is None and spec.concurrency % spec.connections:
        raise ValueError("concurrency must be a multiple of the number of connections")
    if h1 and spec.connections != spec.concurrency:
        raise ValueError("HTTP/1.1: one connection per call in flight")
    with tempfile.TemporaryDirectory(prefix="bench-h2load-") as tmp:
        body, log = Path(tmp, "body.bin"), Path(tmp, "requests.log")
        body.write_bytes(spec.rpc.body)
        before = _children_cpu()
        cmd = command(spec, address, body, log, headers, h1)
        out = _run_command(cmd, timeout=spec.duration_s + 30)
        cpu = _children_cpu() - before
        latencies = _read_log(log)
    elapsed = spec.duration_s
    if spec.calls is not None:  # a count, not a duration: as long as it took
        finished = _FINISHED.search(out)
        if finished is None:
            raise H2LoadError(f"cannot parse h2load output:\n{out[-1000:]}")
        elapsed = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    return _parse(out, elapsed, latencies, cpu)


def _run_command(cmd: list[str], *, timeout: float) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise H2LoadError(f"h2load exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


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
