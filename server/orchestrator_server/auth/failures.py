"""Counts of refused calls by reason (a bounded set: the error classes' `code`), read by the
metrics at scrape time."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator_server.domain.errors import PermissionDenied, Unauthenticated


class AuthFailures:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, error: Unauthenticated | PermissionDenied) -> None:
        self._counts[error.code] = self._counts.get(error.code, 0) + 1

    def counts(self) -> Mapping[str, int]:
        return dict(self._counts)
