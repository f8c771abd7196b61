"""Usage events: one per provider call (successful, failed or cancelled), with tokens, cost
and who asked, delivered to in-process hooks and webhooks from bounded background queues.

Delivery never touches the request path: the observer only puts the event on each sink's
queue (put_nowait) and a full queue drops it, counted. A sink's worker delivers batches with
retries and exponential backoff; `stop` flushes what is queued within a bound.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.ids import uuid7
from orchestrator_server.routing.observer import AttemptRecord

log = logging.getLogger(__name__)

UsageHook = Callable[["UsageEvent"], Awaitable[None] | None]
DropCounter = Callable[[str, str, int], None]  # (sink, reason, events)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    event_id: str  # unique; a webhook retry sends the same id again
    timestamp: float  # UNIX seconds when the call ended
    request_id: str
    provider: str  # configured name
    kind: str  # provider kind: openai, gigachat, ...
    model: str  # model asked for
    response_model: str  # model the provider says served it ("" when unknown)
    streaming: bool
    success: bool
    outcome: str  # success | failed | cancelled
    # failed: the error kind ("timeout", "rate_limited", ...); cancelled: the cause
    # ("cancelled" by the caller, "deadline_exceeded", "shutdown"); "" on success
    error_type: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    usage_estimated: bool
    cost: float
    currency: str
    latency: float  # seconds
    time_to_first_token: float | None
    retry: int
    tenant: str
    user: str
    key_id: str
    tags: tuple[str, ...]
    authenticated: bool  # key_id and tenant are an auth.keys entry's, not declared

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data


def usage_event(record: AttemptRecord, timestamp: float) -> UsageEvent:
    usage = record.usage
    meta = record.request.meta
    success = record.outcome is AttemptOutcome.SUCCESS
    return UsageEvent(
        event_id=uuid7(),
        timestamp=timestamp,
        request_id=record.request.request_id,
        provider=record.provider.name,
        kind=record.provider.kind,
        model=record.model,
        response_model=record.response_model,
        streaming=record.streaming,
        success=success,
        outcome=record.outcome.value,
        error_type=record.error_kind,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        total_tokens=usage.total_tokens if usage else 0,
        usage_estimated=usage.estimated if usage else False,
        cost=record.cost,
        currency=record.currency,
        latency=record.latency,
        time_to_first_token=record.time_to_first_token,
        retry=record.retry,
        tenant=meta.tenant,
        user=meta.user,
        key_id=meta.key_id,
        tags=meta.tags,
        authenticated=meta.caller.authenticated,
    )


class SinkWorker:
    """One sink's bounded queue and the task that empties it in batches."""

    def __init__(
        self,
        name: str,
        deliver: Callable[[Sequence[UsageEvent]], Awaitable[None]],
        dropped: DropCounter,
        *,
        queue_size: int = 10_000,
        batch_size: int = 100,
        retries: int = 0,
        backoff: float = 0.5,
        flush_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self._deliver = deliver
        self._dropped = dropped
        self._queue: asyncio.Queue[UsageEvent] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._retries = retries
        self._backoff = backoff
        self._flush_timeout = flush_timeout
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    def offer(self, event: UsageEvent) -> None:
        if self._task is None or self._task.done():
            self._dropped(self.name, "stopped", 1)
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._dropped(self.name, "queue_full", 1)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"usage-sink-{self.name}")

    async def stop(self) -> None:
        """Delivers what is queued within flush_timeout, then drops the rest (counted)."""
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), self._flush_timeout)
        except TimeoutError:
            log.warning("usage sink %s: flush timed out", self.name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        left = self._queue.qsize()
        if left:
            self._dropped(self.name, "shutdown", left)

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self._batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._send(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _send(self, batch: list[UsageEvent]) -> None:
        for attempt in range(self._retries + 1):
            try:
                await self._deliver(batch)
            except Exception as exc:  # a sink's failure is counted, never raised
                if attempt == self._retries:
                    log.warning(
                        "usage sink %s: %d event(s) dropped after %d attempt(s): %s",
                        self.name,
                        len(batch),
                        attempt + 1,
                        type(exc).__name__,
                    )
                    self._dropped(self.name, "failed", len(batch))
                    return
                await asyncio.sleep(self._backoff * 2**attempt)
            else:
                self.delivered += len(batch)
                return


def hook_delivery(hook: UsageHook) -> Callable[[Sequence[UsageEvent]], Awaitable[None]]:
    async def deliver(batch: Sequence[UsageEvent]) -> None:
        for event in batch:
            result = hook(event)
            if inspect.isawaitable(result):
                await result

    return deliver


class UsageObserver:
    """An AttemptObserver that hands one UsageEvent per provider call to every sink."""

    def __init__(self, sinks: Sequence[SinkWorker], clock: Callable[[], float] = time.time):
        self._sinks = tuple(sinks)
        self._clock = clock

    def attempt_started(self, record: AttemptRecord) -> None:
        pass

    def attempt_ended(self, record: AttemptRecord) -> None:
        event = usage_event(record, self._clock())
        for sink in self._sinks:
            sink.offer(event)
