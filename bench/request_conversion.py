"""CPU time of turning a Generate request into the domain request (api/validation.py's
to_domain): the per-request cost that tools, formats, images and capability routing add.

    .venv/bin/python bench/request_conversion.py [--calls 5000 --rounds 15]

CPU time of this process only (time.process_time), so other jobs on the machine matter
less than for wall-clock timings; the median and the spread of the rounds are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from google.protobuf import struct_pb2

from orchestrator.v1 import generate_pb2
from orchestrator_server.api.validation import to_domain
from orchestrator_server.config.models import LimitsConfig


def requests() -> dict[str, generate_pb2.GenerateRequest]:
    system = generate_pb2.ChatMessage(role=generate_pb2.ROLE_SYSTEM, content="Be brief.")
    user = generate_pb2.ChatMessage(role=generate_pb2.ROLE_USER, content="Say hello")
    params = generate_pb2.GenerationParams(temperature=0.2, max_tokens=50)
    out = {
        "prompt": generate_pb2.GenerateRequest(prompt="hello there"),
        "two messages": generate_pb2.GenerateRequest(messages=[system, user], params=params),
    }
    if hasattr(generate_pb2.GenerateRequest(), "tools"):  # absent before tools existed
        from orchestrator.v1 import tools_pb2

        schema = struct_pb2.Struct()
        schema.update({"type": "object", "properties": {"city": {"type": "string"}}})
        tool = tools_pb2.Tool(name="get_weather", parameters=schema)
        out["two messages + a tool"] = generate_pb2.GenerateRequest(
            messages=[system, user], params=params, tools=[tool]
        )
    return out


def cpu_per_call(convert: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        convert()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    limits = LimitsConfig()
    print("| request | CPU µs/call (median) | min | max |")
    print("| --- | --- | --- | --- |")
    for name, request in requests().items():

        def convert(request: generate_pb2.GenerateRequest = request) -> object:
            return to_domain(request, limits, "bench")

        rounds = [cpu_per_call(convert, args.calls) for _ in range(args.rounds)]
        print(
            f"| {name} | {statistics.median(rounds):.1f} | {min(rounds):.1f} | {max(rounds):.1f} |"
        )


if __name__ == "__main__":
    main()
