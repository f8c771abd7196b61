"""The caller's ids, read from a call's metadata at the border (api/border.py)."""

from __future__ import annotations

import itertools
import re
import secrets

import grpc

REQUEST_ID_KEY = "x-request-id"
KEY_ID_KEY = "x-api-key-id"  # names the caller's key in usage events; never the key itself
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Generated ids: a random per-process prefix and a counter. uuid4 per call read os.urandom,
# a system call that showed up in the profile; this is unique just the same.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()

Context = grpc.aio.ServicerContext[object, object]


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
    return request_id or f"{_ID_PREFIX}{next(_ID_COUNTER):016x}", key_id
