"""ValidateKey's domain entry point: check the request, take a rate-limit token, pick the
allowed endpoint, run the kind's validator within the time budget, and make sure the key
appears nowhere in what comes back or is logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator_server.config.providers import BY_NAME, KINDS, ProviderConfig
from orchestrator_server.config.validate_key import ValidateKeyConfig
from orchestrator_server.domain.errors import FieldViolation, GatewayRateLimited, InvalidRequest
from orchestrator_server.domain.redact import redact
from orchestrator_server.domain.urls import BaseUrl
from orchestrator_server.validation.allowlist import AllowList, ClientPool, Entry, NotAllowed
from orchestrator_server.validation.base import Budget, Target, Validator
from orchestrator_server.validation.ratelimit import TokenBucket
from orchestrator_server.validation.request import violations
from orchestrator_server.validation.types import KeyCheck, Verdict

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
# How long before the caller's deadline a validation gives up, so the verdict still reaches
# the caller: a tenth of the time left, within these bounds (a busy host needs more than 50 ms).
REPLY_MARGIN_MIN_S = 0.05
REPLY_MARGIN_MAX_S = 0.5


def default_validators() -> dict[str, Validator]:
    """Each kind's validator, as its registry entry names it."""
    return {kind.name: kind.load_validator() for kind in KINDS if kind.validator is not None}


class KeyValidationService:
    def __init__(
        self,
        config: ValidateKeyConfig,
        providers: Sequence[ProviderConfig],
        *,
        validators: Mapping[str, Validator] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = config.timeout
        self._clock = clock
        self.allow_list = AllowList.from_config(config, providers)
        self.clients = ClientPool()
        self._bucket = TokenBucket(config.rate_limit.rate, config.rate_limit.burst, clock=clock)
        self._validators = dict(validators or default_validators())

    def reconfigure(self, config: ValidateKeyConfig, providers: Sequence[ProviderConfig]) -> None:
        """After a reload, every setting applies: the timeout, the allow-list (which follows
        the configured providers' base URLs; clients of entries it dropped are closed) and
        the rate limit. The bucket keeps the tokens it has (up to a smaller burst), so a
        reload cannot be used to refill it."""
        self._timeout = config.timeout
        self.allow_list = AllowList.from_config(config, providers)
        self.clients.retain(self.allow_list.all_entries())
        self._bucket.reconfigure(config.rate_limit.rate, config.rate_limit.burst)

    async def validate(self, check: KeyCheck, *, time_left: float | None = None) -> Verdict:
        """The verdict on `check.api_key`. Raises InvalidRequest for a request that breaks a
        rule or names a base URL off the allow-list, and GatewayRateLimited over the limit;
        whatever the provider answers is a verdict. `time_left` is the caller's deadline."""
        problems = violations(check)
        endpoint: tuple[Entry, BaseUrl] | None = None
        if not problems and BY_NAME[check.kind].key_check_url is not None:
            try:
                endpoint = self.allow_list.resolve(check.kind, check.base_url)
            except NotAllowed as exc:
                problems.append(FieldViolation("base_url", str(exc)))
        if problems:
            raise InvalidRequest(problems)
        wait = self._bucket.take()
        if wait is not None:
            raise GatewayRateLimited(
                "too many ValidateKey calls; see validate_key.rate_limit", retry_after=wait
            )
        seconds = self._timeout
        if time_left is not None:
            # End a little before the caller's deadline, so the verdict still reaches it.
            margin = min(REPLY_MARGIN_MAX_S, max(REPLY_MARGIN_MIN_S, time_left / 10))
            seconds = max(0.0, min(seconds, time_left - margin))
        budget = Budget(seconds, self._clock)
        target: Target | None = None
        if endpoint is not None:
            entry, base = endpoint
            target = Target(str(base), await self.clients.lease(entry), entry.api_version)
        try:
            result = await self._validators[check.kind].validate(check, target, budget)
        except Exception as exc:  # a bug: its text may hold anything, the key included
            log.error("key validation for %s failed: %s", check.kind, type(exc).__name__)
            raise RuntimeError(f"key validation failed ({type(exc).__name__})") from None
        finally:
            if endpoint is not None:
                self.clients.release(endpoint[0])
        result = replace(
            result, message=scrub(result.message, check.api_key), elapsed=budget.spent()
        )
        log.info(
            "validate-key kind=%s endpoint=%s outcome=%s attempts=%d elapsed=%.3fs",
            check.kind,
            "-" if target is None else target.url,
            result.code.name,
            result.attempts,
            result.elapsed,
        )
        return result

    async def aclose(self) -> None:
        await self.clients.aclose()


def scrub(text: str, key: str) -> str:
    """The key (and anything key-like) out of `text`, even where a provider echoed it."""
    if key:
        text = text.replace(key, REDACTED)
    return redact(text)
