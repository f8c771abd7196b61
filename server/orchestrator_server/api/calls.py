"""What a call's metadata says about its caller, read once per call at the border
(api/border.py): the request id, the declared key id and the key presented."""

from __future__ import annotations

import re

import grpc

from orchestrator_server.domain.ids import uuid7

REQUEST_ID_KEY = "x-request-id"
KEY_ID_KEY = "x-api-key-id"  # names the caller's key in usage events; never the key itself
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Context = grpc.aio.ServicerContext[object, object]


def read_call(context: Context) -> tuple[str, str, str | None]:
    """The caller's request id (or a generated one), its declared key id ("" when not sent;
    ids that are not short plain tokens are ignored), and the key it presented:
    `authorization: Bearer <key>`, else `x-api-key: <key>` (None: neither)."""
    request_id = key_id = ""
    bearer = api_key = None
    for key, value in context.invocation_metadata() or ():
        if not isinstance(value, str):
            continue
        if key == REQUEST_ID_KEY:
            if _TOKEN.match(value):
                request_id = value
        elif key == KEY_ID_KEY:
            if _TOKEN.match(value):
                key_id = value
        elif key == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
        elif key == "x-api-key" and value.strip():
            api_key = value.strip()
    return request_id or uuid7(), key_id, bearer or api_key


def caller_ids(context: Context) -> tuple[str, str]:
    """The caller's request id (or a generated one) and declared key id."""
    request_id, key_id, _ = read_call(context)
    return request_id, key_id
