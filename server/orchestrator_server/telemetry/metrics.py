"""The gateway's metrics: an AttemptObserver that counts every provider call, the RPC timings
the error border reports (api/border.py), and the OpenTelemetry metric points they make at
scrape time.

Series are kept per provider name, so `retain_providers` really removes a provider's series:
call it with the configured names at start and after every reload.

`collect` may run in a worker thread (the Prometheus endpoint renders there) while the loop
records: it reads only copies made in one step under the GIL (`list(d.items())`), and
`prepare()`, called on the loop first, reads the sources that are not plain dicts (the
router's health, reload and refusal counts).

Label values come only from the configuration: a model a caller names (or a provider
reports) that is neither one of the provider's configured models nor an alias target on it
is counted as `other`, so invented model names cannot grow the scrape.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.providers.base import ProviderSpec
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.routing.types import HealthClass
from orchestrator_server.telemetry import series
from orchestrator_server.telemetry.genai import genai_provider_name

CUMULATIVE = AggregationTemporality.CUMULATIVE
HEALTH_VALUE = {HealthClass.HEALTHY: 1.0, HealthClass.DEGRADED: 0.5, HealthClass.UNHEALTHY: 0.0}
HealthSource = Callable[[], Iterable[tuple[str, HealthClass]]]
OTHER = "other"  # the label value of every model the configuration does not name


@dataclass(slots=True)
class RpcTiming:
    """Time one RPC spent waiting on providers; the border subtracts it from the RPC's
    duration to get the gateway's own overhead."""

    provider_time: float = 0.0


CURRENT_RPC: contextvars.ContextVar[RpcTiming | None] = contextvars.ContextVar(
    "orchestrator_rpc_timing", default=None
)


class _GenAi:
    __slots__ = ("duration", "input", "output", "ttft")

    def __init__(self) -> None:
        self.duration = series.Histogram(series.GENAI_DURATION_BOUNDS)
        self.input = series.Histogram(series.TOKEN_BOUNDS)
        self.output = series.Histogram(series.TOKEN_BOUNDS)
        self.ttft = series.Histogram(series.GENAI_DURATION_BOUNDS)


class _Model:
    """One provider and one requested model."""

    __slots__ = ("cost", "genai", "latency", "requests", "tokens")

    def __init__(self) -> None:
        self.requests = series.Counts()  # by status
        self.latency = series.Histogram(series.LATENCY_BOUNDS)
        self.tokens = series.Counts()  # by type
        self.cost = series.Counts()  # by currency
        self.genai: dict[tuple[str, str], _GenAi] = {}  # (response model, error type)


class _Provider:
    __slots__ = ("models", "system")

    def __init__(self, spec: ProviderSpec) -> None:
        self.system = genai_provider_name(spec.kind)
        self.models: dict[str, _Model] = {}


class _CallerUse:
    __slots__ = ("cost", "requests", "tokens")

    def __init__(self) -> None:
        self.requests = series.Counts()  # by status
        self.tokens = series.Counts()  # by type
        self.cost = series.Counts()  # by currency


class GatewayMetrics:
    def __init__(self, health: HealthSource | None = None) -> None:
        self._providers: dict[str, _Provider] = {}
        self._retained: frozenset[str] | None = None
        # Provider name -> models its alias targets name beyond its own configured ones.
        self._alias_models: Mapping[str, frozenset[str]] = {}
        self._rpc_duration: dict[tuple[str, str], series.Histogram] = {}
        self._overhead: dict[str, series.Histogram] = {}
        self._dropped: dict[tuple[str, str], float] = {}
        self._dropped_since = time.time_ns()
        self.health = health
        # Reload outcomes ("ok", "rejected") -> count, read at scrape time.
        self.reloads: Callable[[], Mapping[str, int]] | None = None
        # Refused calls by reason, read at scrape time.
        self.auth_failures: Callable[[], Mapping[str, int]] | None = None
        # The loop-only sources as `prepare` read them, for the next collect.
        self._sources: tuple[list[tuple[str, HealthClass]], dict[str, int], dict[str, int]] | None
        self._sources = None
        # Authenticated callers' use: (key id, tenant) -> counts. Both come from the
        # configuration's auth.keys, never from what a caller declares.
        self._callers: dict[tuple[str, str], _CallerUse] = {}

    # -- the AttemptObserver side, on the request path: keep it cheap ------------------------

    def attempt_started(self, record: AttemptRecord) -> None:
        pass

    def attempt_ended(self, record: AttemptRecord) -> None:
        latency = record.latency
        timing = CURRENT_RPC.get()
        if timing is not None:
            timing.provider_time += latency
        spec = record.provider
        provider = self._providers.get(spec.name)
        if provider is None:
            retained = self._retained
            if retained is not None and spec.name not in retained:
                return  # a call that outlived its provider's removal: no series comes back
            provider = self._providers[spec.name] = _Provider(spec)
        requested = self._label(spec, record.model)
        model = provider.models.get(requested)
        if model is None:
            model = provider.models[requested] = _Model()
        # The router settled the outcome and its code once; the status label is the outcome
        # for a success or a cancellation (whatever its cause), else the error kind.
        outcome = record.outcome
        error_type = record.error_kind
        status = error_type if outcome is AttemptOutcome.FAILED else outcome.value
        model.requests.add(status)
        model.latency.observe(latency)
        key = (self._label(spec, record.response_model or record.model), error_type)
        genai = model.genai.get(key)
        if genai is None:
            genai = model.genai[key] = _GenAi()
        genai.duration.observe(latency)
        usage = record.usage
        if usage is not None:
            model.tokens.add("prompt", usage.prompt_tokens)
            model.tokens.add("completion", usage.completion_tokens)
            genai.input.observe(usage.prompt_tokens)
            genai.output.observe(usage.completion_tokens)
            if record.cost:
                model.cost.add(record.currency, record.cost)
        if record.time_to_first_token is not None:
            genai.ttft.observe(record.time_to_first_token)
        caller = record.request.meta.caller
        if caller.authenticated:
            key = (caller.key_id, caller.tenant)
            use = self._callers.get(key)
            if use is None:
                use = self._callers[key] = _CallerUse()
            use.requests.add(status)
            if usage is not None:
                use.tokens.add("prompt", usage.prompt_tokens)
                use.tokens.add("completion", usage.completion_tokens)
                if record.cost:
                    use.cost.add(record.currency, record.cost)

    def _label(self, spec: ProviderSpec, model: str) -> str:
        if spec.serves(model) or model in self._alias_models.get(spec.name, ()):
            return model
        return OTHER

    # -- the server and the usage sinks -----------------------------------------------------

    def rpc_ended(self, method: str, code: str, duration: float, provider_time: float) -> None:
        key = (method, code)
        histogram = self._rpc_duration.get(key)
        if histogram is None:
            histogram = self._rpc_duration[key] = series.Histogram(series.LATENCY_BOUNDS)
        histogram.observe(duration)
        overhead = self._overhead.get(method)
        if overhead is None:
            overhead = self._overhead[method] = series.Histogram(series.OVERHEAD_BOUNDS)
        overhead.observe(max(0.0, duration - provider_time))

    def usage_dropped(self, sink: str, reason: str, count: int) -> None:
        key = (sink, reason)
        self._dropped[key] = self._dropped.get(key, 0) + count

    def label_aliases(self, aliases: Mapping[str, Iterable[str]]) -> None:
        """The alias targets of the configuration now serving ("provider/model"): their
        models count under their own name rather than as `other`."""
        found: dict[str, set[str]] = {}
        for targets in aliases.values():
            for target in targets:
                provider, _, model = target.partition("/")
                if model:
                    found.setdefault(provider, set()).add(model)
        self._alias_models = {name: frozenset(models) for name, models in found.items()}

    def retain_providers(self, names: Collection[str]) -> None:
        """Drops every series of a provider not in `names`; later calls to such a provider
        (still in flight during a reload) record nothing."""
        self._retained = frozenset(names)
        for name in list(self._providers):
            if name not in self._retained:
                del self._providers[name]

    # -- scrape time ----------------------------------------------------------------------

    def prepare(self) -> None:
        """On the event loop, before `collect` runs in another thread."""
        self._sources = self._read_sources()

    def _read_sources(
        self,
    ) -> tuple[list[tuple[str, HealthClass]], dict[str, int], dict[str, int]]:
        return (
            list(self.health()) if self.health is not None else [],
            dict(self.reloads()) if self.reloads is not None else {},
            dict(self.auth_failures()) if self.auth_failures is not None else {},
        )

    def collect(self) -> list[Metric]:
        sources, self._sources = self._sources, None
        health, reloads, refused = sources if sources is not None else self._read_sources()
        now = time.time_ns()
        requests: list[NumberDataPoint] = []
        tokens: list[NumberDataPoint] = []
        cost: list[NumberDataPoint] = []
        latency: list[HistogramDataPoint] = []
        duration: list[HistogramDataPoint] = []
        usage: list[HistogramDataPoint] = []
        ttft: list[HistogramDataPoint] = []
        for name, provider in list(self._providers.items()):
            for model_name, model in list(provider.models.items()):
                labels = {"provider": name, "model": model_name}
                requests += model.requests.points("status", labels, now)
                tokens += model.tokens.points("type", labels, now)
                cost += model.cost.points("currency", labels, now)
                latency.append(model.latency.point(labels, now))
                for (response_model, error_type), genai in list(model.genai.items()):
                    attrs = {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": provider.system,
                        "gen_ai.request.model": model_name,
                        "gen_ai.response.model": response_model,
                        "orchestrator.provider": name,
                    }
                    if error_type:
                        attrs["error.type"] = error_type
                    duration.append(genai.duration.point(attrs, now))
                    if genai.input.count:
                        usage.append(
                            genai.input.point({**attrs, "gen_ai.token.type": "input"}, now)
                        )
                        usage.append(
                            genai.output.point({**attrs, "gen_ai.token.type": "output"}, now)
                        )
                    if genai.ttft.count:
                        ttft.append(genai.ttft.point(attrs, now))
        out = [
            _sum("llm_requests_total", "Provider calls by outcome status", "", requests),
            _histogram("llm_request_latency", "Latency of one provider call", "s", latency),
            _sum("llm_tokens_total", "Tokens by type (prompt, completion)", "", tokens),
            _sum("llm_cost_total", "Cost of provider calls, in `currency`", "", cost),
            _histogram(
                "gen_ai.client.operation.duration", "GenAI operation duration", "s", duration
            ),
            _histogram("gen_ai.client.token.usage", "Input and output tokens", "{token}", usage),
            _histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                "Streams: time from the call to the first text",
                "s",
                ttft,
            ),
            self._health(now, health),
            *self._server(now, reloads),
            *self._caller_metrics(now, refused),
        ]
        return [m for m in out if m.data.data_points]

    def _health(self, now: int, health: list[tuple[str, HealthClass]]) -> Metric:
        retained = self._retained
        points = [
            NumberDataPoint({"provider": name}, now, now, HEALTH_VALUE[state])
            for name, state in health
            if retained is None or name in retained
        ]
        return Metric(
            "llm_provider_health",
            "1 healthy, 0.5 degraded, 0 unhealthy",
            "",
            Gauge(points),
        )

    def _server(self, now: int, reload_counts: Mapping[str, int]) -> list[Metric]:
        durations = [
            h.point(_rpc_attrs(method, code), now)
            for (method, code), h in list(self._rpc_duration.items())
        ]
        overhead = [
            h.point(_rpc_attrs(method, None), now) for method, h in list(self._overhead.items())
        ]
        dropped = [
            NumberDataPoint({"sink": sink, "reason": reason}, self._dropped_since, now, n)
            for (sink, reason), n in list(self._dropped.items())
        ]
        reloads = [
            NumberDataPoint({"result": result}, self._dropped_since, now, count)
            for result, count in reload_counts.items()
        ]
        return [
            _histogram("rpc.server.call.duration", "gRPC calls served", "s", durations),
            _sum(
                "orchestrator_config_reloads_total",
                "Configuration reloads by result (ok, rejected)",
                "",
                reloads,
            ),
            _histogram(
                "orchestrator.gateway.overhead",
                "RPC time not spent waiting on providers",
                "s",
                overhead,
            ),
            _sum(
                "orchestrator_usage_events_dropped_total",
                "Usage events not delivered (queue full or sink failing)",
                "",
                dropped,
            ),
        ]

    def _caller_metrics(self, now: int, refusals: Mapping[str, int]) -> list[Metric]:
        requests: list[NumberDataPoint] = []
        tokens: list[NumberDataPoint] = []
        cost: list[NumberDataPoint] = []
        for (key_id, tenant), use in list(self._callers.items()):
            labels = {"key_id": key_id, "tenant": tenant}
            requests += use.requests.points("status", labels, now)
            tokens += use.tokens.points("type", labels, now)
            cost += use.cost.points("currency", labels, now)
        refused = [
            NumberDataPoint({"reason": reason}, self._dropped_since, now, count)
            for reason, count in refusals.items()
        ]
        return [
            _sum(
                "orchestrator_caller_requests_total",
                "Provider calls made for each caller key, by outcome status",
                "",
                requests,
            ),
            _sum("orchestrator_caller_tokens_total", "Tokens by caller key and type", "", tokens),
            _sum("orchestrator_caller_cost_total", "Cost by caller key, in `currency`", "", cost),
            _sum(
                "orchestrator_auth_failures_total",
                "Calls refused: no, unknown or expired caller key, a model the key may not "
                "use, a wrong admin token",
                "",
                refused,
            ),
        ]


def _rpc_attrs(method: str, code: str | None) -> dict[str, str]:
    service, _, name = method.lstrip("/").rpartition("/")
    attrs = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
    if code is not None:
        attrs["rpc.response.status_code"] = code
    return attrs


def _sum(name: str, description: str, unit: str, points: list[NumberDataPoint]) -> Metric:
    return Metric(name, description, unit, Sum(points, CUMULATIVE, is_monotonic=True))


def _histogram(name: str, description: str, unit: str, points: list[HistogramDataPoint]) -> Metric:
    return Metric(name, description, unit, Histogram(points, CUMULATIVE))
