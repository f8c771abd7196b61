"""The in-process backend: one replica's limits and cache in its own memory.

Every method runs without awaiting, so on the event loop each admission is atomic. The
semantics are those of the Redis scripts (`redis_scripts.py`); one test suite runs against
both."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from orchestrator_server.state.cached import CachedResponse
from orchestrator_server.state.types import (
    BUDGET,
    CONCURRENCY,
    TPM,
    WINDOW,
    Check,
    CheckState,
    Denial,
    Settlement,
)

CONCURRENCY_HINT = 1.0  # retry hint while leases are held; a lease frees when a call ends
BUDGET_KEEP = 86_400.0  # a budget period stays readable this long after it ends


@dataclass(slots=True)
class _Log:
    """A sliding window of weighted entries: rid -> (time, amount), in time order."""

    order: deque[tuple[float, str]] = field(default_factory=deque)
    entries: dict[str, tuple[float, int]] = field(default_factory=dict)
    total: int = 0

    def evict(self, now: float) -> None:
        horizon = now - WINDOW
        order, entries = self.order, self.entries
        while order and order[0][0] <= horizon:
            at, rid = order.popleft()
            entry = entries.get(rid)
            if entry is not None and entry[0] == at:  # else moved by a late settlement
                del entries[rid]
                self.total -= entry[1]

    def add(self, rid: str, at: float, amount: int) -> None:
        self.order.append((at, rid))
        self.entries[rid] = (at, amount)
        self.total += amount

    def frees_in(self, need: int, limit: int, now: float) -> float:
        """Seconds until `need` more fits under `limit`, as the oldest entries leave."""
        excess = self.total + need - limit
        for at, rid in self.order:
            entry = self.entries.get(rid)
            if entry is None or entry[0] != at:
                continue
            excess -= entry[1]
            if excess <= 0:
                return at + WINDOW - now
        return WINDOW


class _Leases(dict[str, float]):
    """rid -> expiry. `soonest` is never later than the earliest expiry, so a set where
    nothing is due (leases expire only when a call's replica died) is not scanned."""

    __slots__ = ("soonest",)

    def __init__(self) -> None:
        super().__init__()
        self.soonest = math.inf

    def hold(self, rid: str, expiry: float) -> None:
        self[rid] = expiry
        self.soonest = min(self.soonest, expiry)

    def evict(self, now: float) -> None:
        if now < self.soonest:
            return
        for rid, expiry in list(self.items()):
            if expiry <= now:
                del self[rid]
        self.soonest = min(self.values(), default=math.inf)


@dataclass(slots=True)
class _Budget:
    ends_at: float
    spent: int = 0
    reserved: int = 0
    holds: dict[str, int] = field(default_factory=dict)  # rid -> amount
    expiries: _Leases = field(default_factory=_Leases)  # rid -> when the hold lapses

    def hold(self, rid: str, amount: int, expiry: float) -> None:
        self.holds[rid] = amount
        self.reserved += amount
        self.expiries.hold(rid, expiry)

    def release(self, rid: str) -> None:
        amount = self.holds.pop(rid, None)
        if amount is not None:
            self.reserved -= amount
            self.expiries.pop(rid, None)

    def evict(self, now: float) -> None:
        if now < self.expiries.soonest:
            return
        lapsed = [rid for rid, expiry in self.expiries.items() if expiry <= now]
        for rid in lapsed:
            self.release(rid)
        self.expiries.evict(now)


def _wait(check: Check, state: _Log | _Budget | _Leases, now: float) -> float | None:
    """None when the check fits, else the seconds until it may."""
    if isinstance(state, _Log):
        if state.total + check.amount <= check.limit:
            return None
        return max(0.0, state.frees_in(check.amount, check.limit, now))
    if isinstance(state, _Budget):
        if state.spent + state.reserved + check.amount <= check.limit:
            return None
        if state.spent + check.amount > check.limit:
            return state.ends_at - now
        return CONCURRENCY_HINT  # held by calls in flight: frees as one settles
    if len(state) + 1 <= check.limit:
        return None
    return max(0.0, min(CONCURRENCY_HINT, min(state.values()) - now))


class MemoryLimitBackend:
    remote = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._logs: dict[str, _Log] = {}  # rpm and tpm
        self._leases: dict[str, _Leases] = {}
        self._budgets: dict[str, _Budget] = {}

    async def admit(
        self, rid: str, checks: Sequence[Check], lease: float, now: float | None
    ) -> Denial | None:
        now = self._clock() if now is None else now
        states = [self._state(check, now) for check in checks]
        worst: Denial | None = None
        for check, state in zip(checks, states, strict=True):
            wait = _wait(check, state, now)
            if wait is not None and (worst is None or wait > worst.retry_after):
                worst = Denial(check, wait)
        if worst is not None:
            return worst
        for check, state in zip(checks, states, strict=True):
            if isinstance(state, _Log):
                state.add(rid, now, check.amount)
            elif isinstance(state, _Budget):
                state.hold(rid, check.amount, now + lease)
            else:
                state.hold(rid, now + lease)
        return None

    def _state(self, check: Check, now: float) -> _Log | _Budget | _Leases:
        if check.kind is CONCURRENCY:
            return self._lease_set(check, now)
        if check.kind is BUDGET:
            return self._budget(check, now)
        return self._log(check, now)

    async def settle(self, rid: str, settlements: Sequence[Settlement], now: float | None) -> None:
        now = self._clock() if now is None else now
        for settlement in settlements:
            check, amount = settlement.check, settlement.amount
            if check.kind is CONCURRENCY:
                self._lease_set(check, now).pop(rid, None)
            elif check.kind is BUDGET:
                budget = self._budget(check, now)
                budget.release(rid)
                budget.spent += amount
            elif check.kind is TPM:
                self._settle_tokens(self._log(check, now), rid, amount, now)

    @staticmethod
    def _settle_tokens(log: _Log, rid: str, amount: int, now: float) -> None:
        entry = log.entries.get(rid)
        if entry is not None:
            at, reserved = entry
            log.entries[rid] = (at, amount)
            log.total += amount - reserved
        elif amount > 0:
            # The estimate left the window before the call ended: what it consumed counts now.
            log.add(rid, now, amount)

    async def read(self, checks: Sequence[Check], now: float | None) -> list[CheckState]:
        now = self._clock() if now is None else now
        states = []
        for check in checks:
            if check.kind is CONCURRENCY:
                states.append(CheckState(check, len(self._lease_set(check, now))))
            elif check.kind is BUDGET:
                budget = self._budget(check, now)
                states.append(CheckState(check, budget.spent, budget.reserved))
            else:
                states.append(CheckState(check, self._log(check, now).total))
        return states

    async def aclose(self) -> None:
        pass

    # -- storage, evicted as it is touched ------------------------------------------------

    def _log(self, check: Check, now: float) -> _Log:
        log = self._logs.get(check.storage)
        if log is None:
            log = self._logs[check.storage] = _Log()
        log.evict(now)
        return log

    def _lease_set(self, check: Check, now: float) -> _Leases:
        leases = self._leases.get(check.storage)
        if leases is None:
            leases = self._leases[check.storage] = _Leases()
        leases.evict(now)
        return leases

    def _budget(self, check: Check, now: float) -> _Budget:
        assert check.period is not None
        budget = self._budgets.get(check.storage)
        if budget is None:
            self._forget_old_periods(now)
            budget = self._budgets[check.storage] = _Budget(check.period.ends_at)
        budget.evict(now)
        return budget

    def _forget_old_periods(self, now: float) -> None:
        for name, budget in list(self._budgets.items()):
            if budget.ends_at + BUDGET_KEEP < now:
                del self._budgets[name]


class MemoryCacheStore:
    """A bounded LRU of replies in this process."""

    remote = False

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def put(self, key: str, response: CachedResponse, ttl: float) -> None:
        entries = self._entries
        entries[key] = (self._clock() + ttl, response)
        entries.move_to_end(key)
        while len(entries) > self._max:
            entries.popitem(last=False)

    async def aclose(self) -> None:
        self._entries.clear()
