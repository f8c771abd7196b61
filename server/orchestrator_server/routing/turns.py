"""Walks a request's plan: which candidate to call next, with retries and fallback.

The unary and streaming paths differ in how they make one call, not in how they choose
the next one, so both drive this walker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator_server.domain.errors import ProviderError
from orchestrator_server.routing.candidates import Candidate
from orchestrator_server.routing.trail import Trail

if TYPE_CHECKING:
    from orchestrator_server.routing.runtime import Plan, Runtime


@dataclass(frozen=True, slots=True)
class Turn:
    candidate: Candidate
    probe: bool  # this call is the circuit's half-open probe
    retry: int  # 0 for the first call to this candidate


class Turns:
    __slots__ = ("_attempted", "_deadline", "_index", "_plan", "_retry", "_runtime", "_trail")

    def __init__(self, runtime: Runtime, plan: Plan, trail: Trail, deadline: float) -> None:
        self._runtime = runtime
        self._plan = plan
        self._trail = trail
        self._deadline = deadline
        self._index = 0
        self._retry = 0
        self._attempted = False

    def next(self) -> Turn | None:
        """The next call to make, or None when the plan is exhausted. Raises
        DeadlineExceeded when the budget is spent; records candidates whose circuit refuses."""
        candidates = self._plan.candidates
        clock = self._runtime.clock
        while self._index < len(candidates):
            candidate = candidates[self._index]
            if clock() >= self._deadline:
                raise self._trail.deadline_exceeded()
            slot = candidate.slot
            probe = slot.admit()
            if probe is None:
                if not self._attempted:
                    self._trail.skipped(
                        slot.name, candidate.model_name, slot.breaker.seconds_until_probe()
                    )
                # After our own failures opened the circuit, stop retrying it too.
                self._advance()
                continue
            self._attempted = True
            return Turn(candidate, probe, self._retry)
        return None

    async def failed(self, error: ProviderError) -> None:
        """After a failed call: wait out a retry delay, or move on to the next candidate."""
        runtime, plan, index = self._runtime, self._plan, self._index
        slot = plan.candidates[index].slot
        delay = runtime.retry_delay(error, slot, self._retry, self._deadline, plan, index)
        if delay is None:
            self._advance()
            return
        await runtime.sleep(delay)
        self._retry += 1

    def _advance(self) -> None:
        if self._attempted and self._plan.single:
            self._index = len(self._plan.candidates)
        else:
            self._index += 1
        self._retry = 0
        self._attempted = False
