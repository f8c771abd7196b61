"""Exact removal of registered secrets and their encodings, before the generic rules."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from orchestrator_server.domain.redact import (
    REDACTED,
    SecretRegistry,
    encodings,
    redact,
    register_secret,
)


def test_every_common_encoding_of_a_key_is_covered() -> None:
    key = "k3y/with+odd=chars"
    forms = encodings(key)
    assert key in forms
    assert urllib.parse.quote(key, safe="") in forms
    assert base64.b64encode(key.encode()).decode() in forms
    assert base64.urlsafe_b64encode(key.encode()).decode().rstrip("=") in forms
    assert base64.b64encode(f":{key}".encode()).decode() in forms
    assert base64.b64encode(f"{key}:".encode()).decode() in forms
    assert "k3y\\/with+odd=chars" in forms  # JSON's optional escape of a slash


def test_a_basic_pair_in_base64_is_also_covered_decoded() -> None:
    key = base64.b64encode(b"client-id:client-secret").decode()
    forms = encodings(key)
    assert {"client-id:client-secret", "client-secret"} <= forms


@pytest.mark.parametrize("key", ["abc", "sk-short-key-24-chars-ab", "x" * 200])
def test_registered_keys_go_whatever_their_length(key: str) -> None:
    registry = SecretRegistry()
    registry.add(key)
    text = f"bad key {key} (b64 {base64.b64encode(key.encode()).decode()})"
    scrubbed = registry.scrub(text)
    assert key not in scrubbed
    assert scrubbed.count(REDACTED) == 2


def test_the_longest_form_goes_whole() -> None:
    registry = SecretRegistry()
    registry.add("abcd")
    registry.add("abcdefgh")
    assert registry.scrub("x abcdefgh y") == f"x {REDACTED} y"


def test_redact_removes_registered_secrets_before_truncating() -> None:
    key = "mid-length-key-1234"
    register_secret(key)
    text = redact("a" * 290 + " " + key)
    assert key[:5] not in text[280:]


def test_unregistered_short_text_is_left_alone() -> None:
    assert redact("model not found") == "model not found"
