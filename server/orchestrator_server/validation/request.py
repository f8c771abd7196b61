"""The rules a ValidateKey request must meet before anything is sent anywhere. Breaking one
is the caller's mistake (INVALID_ARGUMENT naming the field), not a verdict on the key.
Descriptions never quote the key."""

from __future__ import annotations

import re

from orchestrator_server.config.kind import FOLDER_ID, IAM_TOKEN, SCOPE, Kind
from orchestrator_server.config.providers import BY_NAME, KINDS
from orchestrator_server.domain.errors import FieldViolation
from orchestrator_server.validation.gigachat import SCOPES
from orchestrator_server.validation.types import Credential, KeyCheck

MAX_KEY_CHARS = 8192
# Keys go into HTTP headers: visible ASCII only, so none can add a header or a line.
_KEY = re.compile(r"^[\x21-\x7e]+$")
_FOLDER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def violations(check: KeyCheck) -> list[FieldViolation]:
    """What the request breaks: the generic rules, then those of the optional fields, each
    taken only by the kinds whose registry entry lists it (config/providers.py KINDS)."""
    kind = BY_NAME.get(check.kind)
    if kind is None or kind.validator is None:
        return [FieldViolation("provider", "must name a provider kind")]
    problems = _key_problems(check, kind)
    for field, given, rule in (
        (SCOPE, bool(check.scope), _scope),
        (FOLDER_ID, bool(check.folder_id), _folder),
        (IAM_TOKEN, check.credential is Credential.IAM_TOKEN, None),
    ):
        takes = field in kind.key_fields
        if given and not takes:
            problems.append(_only_for(field))
        elif takes and rule is not None:
            problems += rule(check)
    if check.credential is Credential.UNKNOWN:
        problems.append(FieldViolation("credential_type", "unknown credential type"))
    if kind.key_check_url is None and check.base_url:
        problems.append(FieldViolation("base_url", f"the {kind.name} provider has no endpoint"))
    return problems


def _key_problems(check: KeyCheck, kind: Kind) -> list[FieldViolation]:
    key = check.api_key
    if not key:
        return [] if kind.keyless else [FieldViolation("api_key", "must not be empty")]
    if len(key) > MAX_KEY_CHARS:
        return [FieldViolation("api_key", f"must be at most {MAX_KEY_CHARS} characters")]
    if not _KEY.match(key):
        return [FieldViolation("api_key", "must be printable ASCII without spaces or line breaks")]
    return []


def _scope(check: KeyCheck) -> list[FieldViolation]:
    if check.scope and check.scope not in SCOPES:
        return [
            FieldViolation("scope", "must be empty (auto-detect) or one of " + ", ".join(SCOPES))
        ]
    return []


def _folder(check: KeyCheck) -> list[FieldViolation]:
    if not check.folder_id:
        return [FieldViolation("folder_id", f"is required for {check.kind}")]
    if not _FOLDER.match(check.folder_id):
        return [FieldViolation("folder_id", "must be 1 to 64 letters, digits, - or _")]
    return []


def _only_for(field: str) -> FieldViolation:
    takers = [k.name for k in KINDS if field in k.key_fields]
    proto_field = "credential_type" if field == IAM_TOKEN else field
    what = "IAM tokens are supported for" if field == IAM_TOKEN else "applies to"
    return FieldViolation(proto_field, f"{what} {' and '.join(takers)} only")
