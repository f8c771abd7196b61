"""The rules a ValidateKey request must meet before anything is sent anywhere. Breaking one
is the caller's mistake (INVALID_ARGUMENT naming the field), not a verdict on the key.
Descriptions never quote the key."""

from __future__ import annotations

import re

from orchestrator_server.domain.errors import FieldViolation
from orchestrator_server.validation.gigachat import SCOPES
from orchestrator_server.validation.types import Credential, KeyCheck

KINDS = ("mock", "gigachat", "yandexgpt", "ollama", "openai", "anthropic", "gemini")
MAX_KEY_CHARS = 8192
# Keys go into HTTP headers: visible ASCII only, so none can add a header or a line.
_KEY = re.compile(r"^[\x21-\x7e]+$")
_FOLDER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEYLESS_KINDS = frozenset({"ollama"})  # reachability; a key is only for a proxy in front


def violations(check: KeyCheck) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    kind = check.kind
    if kind not in KINDS:
        problems.append(FieldViolation("provider", "must name a provider kind"))
        return problems
    key = check.api_key
    if not key:
        if kind not in KEYLESS_KINDS:
            problems.append(FieldViolation("api_key", "must not be empty"))
    elif len(key) > MAX_KEY_CHARS:
        problems.append(FieldViolation("api_key", f"must be at most {MAX_KEY_CHARS} characters"))
    elif not _KEY.match(key):
        problems.append(
            FieldViolation("api_key", "must be printable ASCII without spaces or line breaks")
        )
    if check.scope:
        if kind != "gigachat":
            problems.append(FieldViolation("scope", "applies to GigaChat only"))
        elif check.scope not in SCOPES:
            problems.append(
                FieldViolation(
                    "scope", "must be empty (auto-detect) or one of " + ", ".join(SCOPES)
                )
            )
    if kind == "yandexgpt":
        if not check.folder_id:
            problems.append(FieldViolation("folder_id", "is required for YandexGPT"))
        elif not _FOLDER.match(check.folder_id):
            problems.append(FieldViolation("folder_id", "must be 1 to 64 letters, digits, - or _"))
    elif check.folder_id:
        problems.append(FieldViolation("folder_id", "applies to YandexGPT only"))
    if check.credential is Credential.UNKNOWN:
        problems.append(FieldViolation("credential_type", "unknown credential type"))
    elif check.credential is Credential.IAM_TOKEN and kind != "yandexgpt":
        problems.append(
            FieldViolation("credential_type", "IAM tokens are supported for YandexGPT only")
        )
    if kind == "mock" and check.base_url:
        problems.append(FieldViolation("base_url", "the mock provider has no endpoint"))
    return problems
