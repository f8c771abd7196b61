"""Reloads: a new configuration is validated and its generation built completely, then
swapped in at once; an invalid one is rejected with its reasons and nothing changes.

Two sources, trusted differently. The configuration file (SIGHUP, the file watcher,
ReloadConfig) is the operator's, and becomes the reference. A configuration applied at run
time (ApplyConfig, ApplyProviders) must also pass reload/policy.py against that file, and is
not written anywhere: it lasts until the next reload from the file replaces it, which the
reply (`persistent`) and the logs say."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_server.auth.keys import KeySetupError
from orchestrator_server.config.loader import (
    ConfigError,
    config_from_data,
    load_config,
    parse_config,
)
from orchestrator_server.config.models import Config
from orchestrator_server.domain.errors import (
    ConfigFileRejected,
    ConfigNotPermitted,
    ConfigRejected,
)
from orchestrator_server.providers.registry import ProviderSetupError
from orchestrator_server.reload.build import Changes, next_generation
from orchestrator_server.reload.generation import Generations, close_providers
from orchestrator_server.reload.policy import runtime_problems

log = logging.getLogger(__name__)

_RUNTIME_CONFIG = "config"
_RUNTIME_PROVIDERS = "providers"

# Called after each applied reload with the provider names now serving (e.g. to drop the
# metric series of removed providers). Exceptions are logged, never fatal.
ReloadHook = Callable[[Sequence[str]], object]


@dataclass(frozen=True, slots=True)
class ReloadReport:
    applied: bool  # False only for validate_only
    generation: int  # the generation serving after this reload
    changes: Changes
    persistent: bool  # the file's own configuration; False: until the next file reload


class Reloader:
    def __init__(self, generations: Generations, *, config_path: Path | None = None) -> None:
        self._generations = generations
        self.config_path = config_path
        # The operator's configuration: the one the server started with, then each one
        # re-read from the file. Runtime changes are judged against it.
        self.file_config: Config = generations.current.config
        self._runtime_change: str | None = None  # what last changed the config at run time
        self.hooks: list[ReloadHook] = []
        self.counts = {"ok": 0, "rejected": 0}  # applied reloads, and rejected attempts
        self._lock = asyncio.Lock()  # one reload at a time, each building on the last
        self._background: set[asyncio.Task[None]] = set()

    async def reload_file(
        self,
        *,
        preserve_metrics: bool | None = None,
        validate_only: bool = False,
        trigger: str = "AdminService.ReloadConfig",
    ) -> ReloadReport:
        """Re-reads the file the server started with. None: the configured preference."""
        path = self.config_path
        if path is None:
            error = ConfigFileRejected(
                "no file",
                ["the server runs on the embedded configuration: there is no file to re-read"],
                field="",
            )
            self._rejected(trigger, error, validate_only)
            raise error
        return await self._apply(
            lambda: load_config(path),
            f"{trigger} of {path}",
            field="",
            from_file=True,
            preserve_metrics=preserve_metrics,
            validate_only=validate_only,
            threaded=True,
        )

    async def apply_text(
        self, text: str, *, preserve_metrics: bool, validate_only: bool = False
    ) -> ReloadReport:
        source = "AdminService.ApplyConfig"
        return await self._apply(
            lambda: parse_config(text, source),
            source,
            field="config_yaml",
            runtime=_RUNTIME_CONFIG,
            preserve_metrics=preserve_metrics,
            validate_only=validate_only,
        )

    async def apply_providers(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        preserve_metrics: bool,
        validate_only: bool = False,
    ) -> ReloadReport:
        """Replaces the provider list; the rest of the running configuration stays (and is
        validated again with it: aliases must still name existing providers)."""
        source = "AdminService.ApplyProviders"

        def merged() -> Config:
            data = self._generations.current.config.model_dump(mode="json", by_alias=True)
            data["providers"] = [dict(entry) for entry in entries]
            return config_from_data(data, source)

        return await self._apply(
            merged,
            source,
            field="providers",
            runtime=_RUNTIME_PROVIDERS,
            preserve_metrics=preserve_metrics,
            validate_only=validate_only,
        )

    def reload_in_background(self, trigger: str) -> None:
        """For SIGHUP and the file watcher: reload the file; the outcome is only logged."""
        task = asyncio.ensure_future(self._quietly(trigger))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quietly(self, trigger: str) -> None:
        with contextlib.suppress(ConfigRejected):  # logged and counted by _apply
            await self.reload_file(trigger=trigger)

    async def _apply(
        self,
        load: Callable[[], Config],
        source: str,
        *,
        field: str,
        preserve_metrics: bool | None,
        validate_only: bool,
        from_file: bool = False,
        threaded: bool = False,
        runtime: str | None = None,
    ) -> ReloadReport:
        """`runtime`: a configuration from a call, not the file (_RUNTIME_CONFIG, or
        _RUNTIME_PROVIDERS when only the providers came from the call)."""
        rejected = ConfigFileRejected if from_file else ConfigRejected
        async with self._lock:
            try:
                config = await asyncio.to_thread(load) if threaded else load()
            except ConfigError as exc:
                error = rejected(source, exc.problems, field=field)
                self._rejected(source, error, validate_only)
                raise error from None
            if runtime is not None:
                problems = runtime_problems(
                    self.file_config, config, providers_only=runtime == _RUNTIME_PROVIDERS
                )
                if problems:
                    error = ConfigNotPermitted(source, problems, field=field)
                    self._rejected(source, error, validate_only)
                    raise error
            generations = self._generations
            old = generations.current
            if preserve_metrics is None:
                preserve_metrics = old.config.reload.preserve_metrics
            try:
                new, changes, built = await next_generation(
                    old, config, preserve_metrics=preserve_metrics
                )
            except (ProviderSetupError, KeySetupError) as exc:
                error = rejected(source, [str(exc)], field=field)
                self._rejected(source, error, validate_only)
                raise error from None
            persistent = runtime is None
            if validate_only:
                await close_providers(built)
                log.info("valid, not applied (%s): %s", source, changes.summary())
                return ReloadReport(False, old.number, changes, persistent)
            generations.swap(new)
            self.counts["ok"] += 1
            log.info(
                "configuration reloaded from %s: generation %d; %s",
                source,
                new.number,
                changes.summary(),
            )
            self._note_source(source, config, persistent)
            names = tuple(p.spec.name for p in new.providers)
        for hook in self.hooks:
            try:
                hook(names)
            except Exception:
                log.exception("a reload hook failed")
        return ReloadReport(True, new.number, changes, persistent)

    def _note_source(self, source: str, config: Config, persistent: bool) -> None:
        if not persistent:
            self._runtime_change = source
            log.warning(
                "%s is not written to the configuration file: the next reload from the "
                "file (SIGHUP, file watch, ReloadConfig) replaces it",
                source,
            )
            return
        if self._runtime_change is not None:
            log.warning("%s replaced the change made by %s", source, self._runtime_change)
            self._runtime_change = None
        self.file_config = config

    def _rejected(self, source: str, error: ConfigRejected, validate_only: bool) -> None:
        if validate_only:
            log.info("configuration from %s is invalid: %s", source, "; ".join(error.problems))
            return
        self.counts["rejected"] += 1
        log.warning(
            "configuration reload from %s rejected, generation %d serves on: %s",
            source,
            self._generations.current.number,
            "; ".join(error.problems),
        )

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
