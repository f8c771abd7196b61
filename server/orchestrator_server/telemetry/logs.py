"""Logging set-up: human-readable lines by default, one JSON object per line by option."""

from __future__ import annotations

import json
import logging
import sys
import time

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.domain.chat import ChatRequest, Role
from orchestrator_server.domain.redact import scrub_secrets
from orchestrator_server.routing.observer import AttemptRecord

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub_secrets(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Plain lines, with every registered secret removed (a traceback or a library's message
    may quote one)."""

    def __init__(self, who: str = "") -> None:
        super().__init__(f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(super().format(record))


def configure_logging(
    level: str = "INFO", *, json_format: bool = False, worker: int | None = None
) -> None:
    """`worker`: the index of a `serve --workers N` worker, shown on each of its lines (a
    `worker` key in JSON), since the workers and the supervisor share one stderr."""
    handler = logging.StreamHandler(sys.stderr)
    who = "" if worker is None else f"worker {worker} "
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter(who))
    if worker is not None:
        handler.addFilter(_WorkerTag(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # faiss logs at INFO which CPU build it loads, with a ModuleNotFoundError for each build it
    # skips: routine, but it reads as a failure at start-up. Shown when DEBUG is asked for.
    logging.getLogger("faiss").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


class _WorkerTag(logging.Filter):
    def __init__(self, worker: int) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        return True


class AttemptLogger:
    """An AttemptObserver writing one record per provider call to the `orchestrator.attempts`
    logger: failures and cancellations at `failure_level` (INFO, or DEBUG with
    `logging.failed_attempts: DEBUG`, as the embedded demo config has since one of its mocks
    fails on purpose), successes at DEBUG. The fields (request_id, provider, model, outcome,
    error, latency_ms, tokens, key_id and tenant when known) become JSON keys with
    `logging.json`. The prompt is included only with `logging.include_prompts`; keys never
    are."""

    def __init__(self, *, include_prompts: bool = False, failure_level: int = logging.INFO) -> None:
        self._log = logging.getLogger("orchestrator.attempts")
        self._include_prompts = include_prompts
        self._failure_level = failure_level

    def attempt_started(self, record: AttemptRecord) -> None:
        pass

    def attempt_ended(self, record: AttemptRecord) -> None:
        success = record.outcome is AttemptOutcome.SUCCESS
        level = logging.DEBUG if success else self._failure_level
        if not self._log.isEnabledFor(level):
            return
        usage = record.usage
        fields: dict[str, object] = {
            "request_id": record.request.request_id,
            "provider": record.provider.name,
            "model": record.model,
            "outcome": record.outcome.value,
            "error": record.error_kind,
            "latency_ms": round(record.latency * 1000, 3),
            "streaming": record.streaming,
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
        }
        meta = record.request.meta
        if meta.key_id:
            fields["key_id"] = meta.key_id
        if meta.tenant:
            fields["tenant"] = meta.tenant
        if self._include_prompts:
            fields["prompt"] = _last_user_message(record)
        error = f" ({record.error_kind})" if record.error_kind else ""
        self._log.log(
            level,
            "%s %s/%s %s%s in %.1f ms",
            fields["request_id"],
            record.provider.name,
            record.model,
            record.outcome.value,
            error,
            record.latency * 1000,
            extra=fields,
        )


def _last_user_message(record: AttemptRecord) -> str:
    request = record.request
    if not isinstance(request, ChatRequest):
        return ""
    for message in reversed(request.messages):
        if message.role is Role.USER:
            return message.content
    return ""
