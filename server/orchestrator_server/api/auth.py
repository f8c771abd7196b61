"""Who is calling, decided once per call by the error border (api/border.py), from the key the
border read off the metadata with the call's ids (api/calls.py): every OrchestratorService
method (present and future) needs a caller key when `auth` is configured; every AdminService
method needs the admin token; health and reflection are not behind the border and stay open.

A refusal is an Unauthenticated error, counted by reason and answered by the border like any
other error. The Caller reaches the servicer with the call's ids (`current_call`), so no
servicer method can forget to check."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from orchestrator.v1 import admin_pb2, orchestrator_service_pb2
from orchestrator_server.auth.admin import AdminToken
from orchestrator_server.auth.failures import AuthFailures
from orchestrator_server.auth.keys import KeyTable
from orchestrator_server.domain.caller import Caller
from orchestrator_server.domain.errors import Unauthenticated

Clock = Callable[[], datetime.datetime]
# (the key presented or None, the key id the caller declared) -> the Caller; raises
# Unauthenticated.
Check = Callable[[str | None, str], Caller]

CALLER_SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
_CALLER_PREFIX = f"/{CALLER_SERVICE.full_name}/"
_ADMIN_PREFIX = f"/{ADMIN_SERVICE.full_name}/"


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Authentication:
    def __init__(
        self,
        keys: Callable[[], KeyTable | None],
        admin: AdminToken | None,
        failures: AuthFailures,
        clock: Clock = _utc_now,
    ) -> None:
        """`keys` gives the key table of the configuration serving now (None: no `auth`),
        so a reload that adds, rotates or removes keys applies from the next call."""
        self._keys = keys
        self._admin = admin
        self._failures = failures
        self._clock = clock

    def check_for(self, method: str) -> Check | None:
        """The check a method's calls go through (None: none), chosen once per method when
        the border wraps it."""
        if method.startswith(_CALLER_PREFIX):
            return self.caller
        if method.startswith(_ADMIN_PREFIX):
            return self.operator
        return None

    def caller(self, presented: str | None, declared_key_id: str) -> Caller:
        """The authenticated caller; without `auth`, an anonymous one carrying the key id
        the caller declared (`x-api-key-id`)."""
        keys = self._keys()
        if keys is None:
            return Caller.anonymous(declared_key_id)
        try:
            return keys.authenticate(presented, self._clock())
        except Unauthenticated as exc:
            self._failures.add(exc)
            raise

    def operator(self, presented: str | None, declared_key_id: str) -> Caller:
        admin = self._admin
        if admin is not None and admin.matches(presented):
            return Caller.anonymous(declared_key_id)
        error = Unauthenticated("AdminService needs 'authorization: Bearer <admin token>'")
        self._failures.add(error)
        raise error
