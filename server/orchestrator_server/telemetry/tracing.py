"""Traces: the tracer provider (exporter none, console or OTLP), a CLIENT span per provider
attempt with `gen_ai.*` attributes, the SERVER span per RPC that continues the caller's W3C
trace context, and the `traceparent` header on each provider HTTP request.

With `exporter: none` nothing here is built: no provider, no spans, no header hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import context, trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator_server import __version__
from orchestrator_server.config.telemetry import TracingConfig
from orchestrator_server.domain.attempts import AttemptOutcome
from orchestrator_server.routing.observer import AttemptRecord
from orchestrator_server.telemetry import genai

PROPAGATOR = TraceContextTextMapPropagator()
_GETTER = DefaultGetter()


class TracingSetupError(Exception):
    pass


def build_tracer_provider(
    config: TracingConfig, resource: Resource, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """None when tracing is off. A given `exporter` (tests, in-process use) gets every span
    at once; configured exporters get them in batches from a background thread."""
    if exporter is None and config.exporter == "none":
        return None
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(config.sample_ratio))
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_configured_exporter(config)))
    return provider


def _configured_exporter(config: TracingConfig) -> SpanExporter:
    if config.exporter == "console":
        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingSetupError(
            "telemetry.tracing.exporter: otlp needs the OTLP exporter: "
            "pip install 'llm-orchestrator-server[otlp]'"
        ) from None
    return OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint else OTLPSpanExporter()


class TracingObserver:
    """An AttemptObserver: one CLIENT span per provider call, current while the call runs
    (so the HTTP layer puts its traceparent on the request)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def attempt_started(self, record: AttemptRecord) -> None:
        spec = record.provider
        request = record.request
        span = self._tracer.start_span(
            f"{record.operation} {record.model}",
            kind=SpanKind.CLIENT,
            attributes={
                genai.OPERATION: record.operation,
                genai.PROVIDER_NAME: genai.genai_provider_name(spec.kind),
                genai.SYSTEM: genai.genai_provider_name(spec.kind),
                genai.REQUEST_MODEL: record.model,
                "orchestrator.provider": spec.name,
                "orchestrator.request_id": request.request_id,
                "orchestrator.streaming": record.streaming,
                "orchestrator.attempt.retry": record.retry,
            },
        )
        caller = request.meta.caller
        if caller.authenticated:
            span.set_attribute("orchestrator.key_id", caller.key_id)
            span.set_attribute("orchestrator.tenant", caller.tenant)
        token = context.attach(trace.set_span_in_context(span))
        record.scope = (span, token)

    def attempt_ended(self, record: AttemptRecord) -> None:
        scope = record.scope
        if not isinstance(scope, tuple):
            return
        span, token = scope
        record.scope = None
        try:
            _finish_attempt(span, record)
        finally:
            context.detach(token)


def _finish_attempt(span: Span, record: AttemptRecord) -> None:
    span.set_attribute("orchestrator.attempt.outcome", record.outcome.value)
    if record.response_model:
        span.set_attribute(genai.RESPONSE_MODEL, record.response_model)
    usage = record.usage
    if usage is not None:
        span.set_attribute(genai.INPUT_TOKENS, usage.prompt_tokens)
        span.set_attribute(genai.OUTPUT_TOKENS, usage.completion_tokens)
        if usage.estimated:
            span.set_attribute("orchestrator.usage.estimated", True)
    if record.cost:
        span.set_attribute("orchestrator.cost", record.cost)
        span.set_attribute("orchestrator.currency", record.currency)
    if record.finish_reason is not None:
        span.set_attribute(genai.FINISH_REASONS, [record.finish_reason.value])
    if record.time_to_first_token is not None:
        span.set_attribute("orchestrator.time_to_first_token", record.time_to_first_token)
    if record.outcome is not AttemptOutcome.SUCCESS:
        error = record.error_kind
        span.set_attribute(genai.ERROR_TYPE, error)
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()


class ServerSpans:
    """The SERVER span of one RPC, a child of the caller's `traceparent` when it sent one."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start(
        self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> tuple[Span, object]:
        carrier: dict[str, str] = {}
        for key, value in metadata or ():
            if key in ("traceparent", "tracestate") and isinstance(value, str):
                carrier[key] = value
        parent = PROPAGATOR.extract(carrier, getter=_GETTER) if carrier else None
        service, _, name = method.lstrip("/").rpartition("/")
        span = self._tracer.start_span(
            method.lstrip("/"),
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        return span, token

    @staticmethod
    def end(span: Span, token: object, code: str, code_value: int) -> None:
        try:
            span.set_attribute("rpc.grpc.status_code", code_value)
            if code != "OK":
                span.set_status(Status(StatusCode.ERROR, code))
            span.end()
        finally:
            context.detach(token)  # type: ignore[arg-type]


def trace_headers() -> Mapping[str, str] | None:
    """The current span's W3C headers for an outgoing request (the HTTP layer's hook)."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier or None


def tracer_of(provider: TracerProvider) -> trace.Tracer:
    return provider.get_tracer("orchestrator", __version__)
