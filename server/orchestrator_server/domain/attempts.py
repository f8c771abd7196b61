"""The fallback trail: one record per provider call made for a request."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AttemptOutcome(enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"  # circuit open: the provider was not called
    CANCELLED = "cancelled"  # the caller went away or the deadline ran out mid-call


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    model: str
    outcome: AttemptOutcome
    error_code: str = ""  # an ErrorKind value, or "circuit_open"
    message: str = ""
    latency: float = 0.0  # seconds
    retry: int = 0
