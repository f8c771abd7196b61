"""Generated request ids are UUIDv7: current time first, unique, in issue order, and fresh in
forked workers."""

from __future__ import annotations

import os
import time
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2

from orchestrator.v1 import generate_pb2
from orchestrator_server.domain.ids import uuid7
from tests.helpers import detail, make_config, mock_provider, running


def test_a_generated_id_is_a_uuid7_of_now() -> None:
    before = time.time_ns() // 1_000_000
    text = uuid7()
    after = time.time_ns() // 1_000_000
    value = uuid.UUID(text)
    assert str(value) == text  # the canonical lower-case 8-4-4-4-12 form
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_ids_are_unique_and_sort_in_issue_order() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids


def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, " ".join(uuid7() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    parent = {uuid7() for _ in range(3)}
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    assert len(child) == 3
    # Same milliseconds and counters are likely; the per-process random bits differ.
    assert {i[-8:] for i in child}.isdisjoint({i[-8:] for i in parent})


async def test_replies_and_errors_carry_a_generated_uuid7() -> None:
    async with running(make_config(mock_provider("m"))) as server:
        reply = await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi"))
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await server.stub.Generate(generate_pb2.GenerateRequest(prompt="hi", model="nope"))
    assert uuid.UUID(reply.request_id).version == 7
    info = detail(failed.value, error_details_pb2.ErrorInfo)
    assert uuid.UUID(info.metadata["request_id"]).version == 7
