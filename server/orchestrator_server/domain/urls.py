"""Base URLs in one canonical form, so the allow-list compares like with like.

Only scheme, host, port and path are kept. Anything that could make two spellings of one
URL differ, or smuggle a second host in, is refused rather than normalised: user info,
query, fragment, percent escapes, backslashes, and `.`/`..` path segments."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN = frozenset("%\\ \t\r\n@?#")


class BadUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class BaseUrl:
    scheme: str
    host: str
    port: int
    path: str  # "" or "/a/b": no trailing slash

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def covers(self, other: BaseUrl) -> bool:
        """Same scheme, host and port, and `other`'s path is this path or below it (whole
        segments only: /v1 covers /v1/x, not /v1x)."""
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            other.path == self.path or other.path.startswith(self.path + "/")
        )


def parse_base_url(text: str) -> BaseUrl:
    """The canonical form of `text`, or BadUrl saying what is wrong (never echoing it)."""
    if not text or len(text) > 2048:
        raise BadUrl("must be 1 to 2048 characters")
    if any(ch in _FORBIDDEN or ord(ch) < 0x20 or ord(ch) > 0x7E for ch in text):
        raise BadUrl(
            "must be a plain http(s) URL: no spaces, user info, query, fragment or escapes"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadUrl("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadUrl("must start with http:// or https://")
    host = (parts.hostname or "").lower()
    if not host:
        raise BadUrl("has no host")
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise BadUrl("must not contain . or .. path segments")
    path = "".join(f"/{s}" for s in segments)
    return BaseUrl(scheme, host, port or _DEFAULT_PORTS[scheme], path)
