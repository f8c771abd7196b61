"""A last line of defence for provider error text before it is stored or shown.

ProviderError messages are meant to be safe already; this catches what an adapter missed
(a key echoed back in an upstream error body, an Authorization header in a repr)."""

from __future__ import annotations

import re

_MAX_CHARS = 300

# A credential after a label ("Bearer x", "api_key=x", "token: x"), or a long opaque run of
# key-like characters. Both are rare in honest error text and costly to leak.
_LABELLED = re.compile(
    r"(?i)\b(bearer|basic|api[-_]?key|x-api-key|token|secret|password|authorization)"
    r"([\s\"':=]+)[^\s\"',;]+"
)
_OPAQUE = re.compile(r"[A-Za-z0-9_\-+/]{32,}={0,2}")


def redact(message: str) -> str:
    text = _LABELLED.sub(r"\1\2[redacted]", message)
    text = _OPAQUE.sub("[redacted]", text)
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS - 1] + "…"
    return text
