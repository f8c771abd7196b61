"""What every servicer method does at the border: read the caller's ids from metadata and
end a call with the status its error maps to."""

from __future__ import annotations

import re
from typing import NoReturn

import grpc

from orchestrator_server.api.errors import map_error
from orchestrator_server.domain.ids import uuid7

REQUEST_ID_KEY = "x-request-id"
KEY_ID_KEY = "x-api-key-id"  # names the caller's key in usage events; never the key itself
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
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
    return request_id or uuid7(), key_id


async def abort(context: Context, error: BaseException, request_id: str) -> NoReturn:
    status = map_error(error, request_id)
    await context.abort(status.code, status.message, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
