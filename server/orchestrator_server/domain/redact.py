"""Provider text made safe to store or show: every configured secret removed exactly, then a
last line of defence for credentials nobody registered.

The secrets are the process's own: every key read from the environment for a provider, the
admin token, caller keys, webhook headers. Whatever reads one registers it here
(`register_secret`), so `redact()`, through which all provider error text passes
(ProviderError, ValidateKey verdicts, the log formatter), removes it wherever it shows up,
whatever its length or shape, together with its common encodings. The heuristics after it
catch what an adapter missed (an Authorization header in a repr, a long token).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.parse

REDACTED = "[redacted]"
_MAX_CHARS = 300

# A credential after a label ("Bearer x", "api_key=x", "token: x"), or a long opaque run of
# key-like characters. Both are rare in honest error text and costly to leak.
_LABELLED = re.compile(
    r"(?i)\b(bearer|basic|api[-_]?key|x-api-key|token|secret|password|authorization)"
    r"([\s\"':=]+)[^\s\"',;]+"
)
_OPAQUE = re.compile(r"[A-Za-z0-9_\-+/]{32,}={0,2}")


def encodings(secret: str) -> set[str]:
    """`secret` and the forms it takes on the wire: percent-encoded (a query string), escaped
    inside a JSON string, base64 of it and of it as either half of a Basic `user:password`
    pair, and, for a value that is itself a Basic pair in base64 (GigaChat's authorization
    key), the decoded pair and its password."""
    escaped = json.dumps(secret)[1:-1]
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        escaped,
        escaped.replace("/", "\\/"),
    }
    for raw in (secret, f":{secret}", f"{secret}:"):
        data = raw.encode()
        for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
            text = encoded.decode()
            forms.update((text, text.rstrip("=")))
    try:
        decoded = base64.b64decode(secret, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded.isprintable() and ":" in decoded:
        forms.add(decoded)
        password = decoded.partition(":")[2]
        if password:
            forms.add(password)
    forms.discard("")
    return forms


class SecretRegistry:
    """The set of secret strings to remove from text, matched longest first so an encoding
    that contains another form goes whole."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # registration may come from a config-loading thread

    def add(self, secret: str) -> None:
        if not secret:
            return
        new = encodings(secret) - self._forms
        if not new:
            return
        with self._lock:
            self._forms |= new
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)


SECRETS = SecretRegistry()


def register_secret(secret: str) -> None:
    """Remove `secret` (and its encodings) from every provider text from now on."""
    SECRETS.add(secret)


def scrub_secrets(text: str) -> str:
    """Only the registered secrets out of `text` (for log lines, which must stay whole)."""
    return SECRETS.scrub(text)


def redact(message: str) -> str:
    text = SECRETS.scrub(message)
    text = _LABELLED.sub(r"\1\2[redacted]", text)
    text = _OPAQUE.sub("[redacted]", text)
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS - 1] + "…"
    return text
