"""Who is calling, as the gateway established it: what a request carries from the door
(gRPC, and any later one) through routing to usage events, logs, metrics and traces."""

from __future__ import annotations

from dataclasses import dataclass

EVERYTHING = ("*",)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller key (`authenticated`), or an anonymous caller of a gateway
    without `auth`, whose `key_id` is whatever it declared in `x-api-key-id` (never a
    metric label, never trusted for anything but attribution).

    `models` are the key's patterns (see auth/scope.py): "*", "provider/model-glob" or an
    alias name. Per-key limits and budgets, when they come, are looked up by `key_id`."""

    key_id: str = ""
    tenant: str = ""
    authenticated: bool = False
    models: tuple[str, ...] = EVERYTHING

    @property
    def unrestricted(self) -> bool:
        return "*" in self.models

    @staticmethod
    def anonymous(declared_key_id: str = "") -> Caller:
        return Caller(key_id=declared_key_id) if declared_key_id else ANONYMOUS


ANONYMOUS = Caller()
