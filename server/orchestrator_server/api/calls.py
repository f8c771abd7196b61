"""What every servicer method does at the border: read the caller's ids from metadata and
end a call with the status its error maps to."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from typing import NoReturn

import grpc

from orchestrator_server.api.errors import map_error

REQUEST_ID_KEY = "x-request-id"
KEY_ID_KEY = "x-api-key-id"  # names the caller's key in usage events; never the key itself
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Generated ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 42-bit counter
# (the RFC's "fixed bit-length dedicated counter", so ids from one process sort in issue
# order) and 32 random bits drawn once per process. uuid4 per call read os.urandom, a
# system call that showed up in the profile; this costs a clock read and a counter.
_COUNTER_BITS = 42
_id_random = secrets.randbits(32)
_id_counter = itertools.count()


def _reseed() -> None:
    # Forked workers must not repeat their parent's (or each other's) ids.
    global _id_random, _id_counter
    _id_random = secrets.randbits(32)
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    """A UUIDv7 in its usual text form, e.g. 019a5f3e-8b2c-7000-8000-0000c0ffee42."""
    counter = next(_id_counter) & ((1 << _COUNTER_BITS) - 1)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version
        | (counter >> 30) << 64  # rand_a: the counter's top 12 bits
        | 0b10 << 62  # variant
        | (counter & ((1 << 30) - 1)) << 32  # rand_b: the counter's other 30 bits ...
        | _id_random  # ... and the per-process random bits
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


Context = grpc.aio.ServicerContext[object, object]


def caller_request_id(context: Context) -> str:
    return caller_ids(context)[0]


def caller_ids(context: Context) -> tuple[str, str]:
    """The caller's request id (or a generated one) and key id ("" when not sent); values
    that are not short plain tokens are ignored."""
    request_id = key_id = ""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            if isinstance(value, str) and _TOKEN.match(value):
                request_id = value
        elif key == KEY_ID_KEY and isinstance(value, str) and _TOKEN.match(value):
            key_id = value
    return request_id or new_request_id(), key_id


async def abort(context: Context, error: BaseException, request_id: str) -> NoReturn:
    status = map_error(error, request_id)
    await context.abort(status.code, status.message, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
