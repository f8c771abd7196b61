"""Ids the gateway makes (request ids, usage event ids): UUIDv7, cheap and sortable."""

from __future__ import annotations

import itertools
import os
import secrets
import time

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


def uuid7() -> str:
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
