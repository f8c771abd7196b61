"""Image input checks every door shares: which bytes are an image we pass on, and `data:`
URLs taken apart. The gateway never fetches image URLs itself (that would let a caller aim
it at internal addresses); providers that fetch URLs get them as they are."""

from __future__ import annotations

import base64
import binascii
import re

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_URL_CHARS = 8192
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)


class BadImage(ValueError):
    """The reason an image part is refused, phrased for a BadRequest description."""


def sniff(data: bytes) -> str | None:
    """The media type the bytes' signature says, among the four every vision API takes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def checked_bytes(data: bytes, media_type: str) -> str:
    """The media type of image bytes: the declared one when it agrees with the bytes."""
    if not data:
        raise BadImage("is empty")
    found = sniff(data)
    if found is None:
        raise BadImage("is not a PNG, JPEG, GIF or WEBP image")
    declared = media_type.strip().lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if declared and declared != found:
        raise BadImage(f"media_type is {media_type!r} but the bytes are {found}")
    return found


def from_data_url(url: str) -> tuple[bytes, str]:
    """(bytes, media type) of a `data:image/...;base64,...` URL."""
    match = _DATA_URL.match(url)
    if match is None:
        raise BadImage("a data URL must be data:<media type>;base64,<data>")
    try:
        data = base64.b64decode(url[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise BadImage("the data URL's base64 does not decode") from None
    return data, checked_bytes(data, match.group("type") or "")


def check_url(url: str) -> None:
    if len(url) > MAX_URL_CHARS:
        raise BadImage(f"url is longer than {MAX_URL_CHARS} characters")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise BadImage("url must be an http(s) URL or a data: URL")
