"""Building request messages from plain Python values; shared by the async and sync clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

from google.protobuf import json_format, struct_pb2

from orchestrator.v1 import (
    common_pb2,
    embed_pb2,
    generate_pb2,
    metrics_pb2,
    retrieve_pb2,
    tools_pb2,
    validate_key_pb2,
)
from orchestrator_client import tools as _tools

# A message: a ChatMessage, ("user", "hi"), {"role": "user", "content": "hi"} (also with
# "parts", "tool_calls" or "tool_call_id"), or a GenerateResponse replayed as the assistant.
MessageLike = (
    generate_pb2.ChatMessage | generate_pb2.GenerateResponse | tuple[str, str] | Mapping[str, Any]
)

ROLES: dict[str, generate_pb2.Role] = {
    "system": generate_pb2.ROLE_SYSTEM,
    "user": generate_pb2.ROLE_USER,
    "human": generate_pb2.ROLE_USER,
    "assistant": generate_pb2.ROLE_ASSISTANT,
    "ai": generate_pb2.ROLE_ASSISTANT,
    "tool": generate_pb2.ROLE_TOOL,
}


def _provider_kinds() -> dict[str, common_pb2.ProviderKind]:
    """Names for ValidateKey's provider kinds, read off the contract's enum, so a kind added
    to the proto is known here at once: PROVIDER_KIND_OPENAI_COMPATIBLE is
    "openai-compatible", also "openai" (the server's config kind name for it)."""
    kinds: dict[str, common_pb2.ProviderKind] = {}
    for name, number in common_pb2.ProviderKind.items():
        if number == common_pb2.PROVIDER_KIND_UNSPECIFIED:
            continue
        key = name.removeprefix("PROVIDER_KIND_").lower().replace("_", "-")
        kinds[key] = cast(common_pb2.ProviderKind, number)
        if key.endswith("-compatible"):
            kinds[key.removesuffix("-compatible")] = cast(common_pb2.ProviderKind, number)
    return kinds


PROVIDER_KINDS: dict[str, common_pb2.ProviderKind] = _provider_kinds()

SEARCH_TYPES: dict[str, retrieve_pb2.SearchType] = {
    "similarity": retrieve_pb2.SEARCH_TYPE_SIMILARITY,
    "mmr": retrieve_pb2.SEARCH_TYPE_MMR,
}


class GenerateOptions(TypedDict, total=False):
    """Everything a Generate or GenerateStream request can say besides the text."""

    messages: Sequence[MessageLike]
    model: str  # "provider/model", an alias, or a bare model name
    provider: str  # pin to one configured provider
    temperature: float
    top_p: float
    max_tokens: int
    stop: Sequence[str]
    repetition_penalty: float
    seed: int
    strategy: str  # "round-robin", "cheapest", ... (overrides the server's)
    disable_fallback: bool
    tenant: str
    user: str
    tags: Sequence[str]
    attributes: Mapping[str, Any]
    tools: Sequence[_tools.ToolLike]  # Tool messages, dicts or pydantic model classes
    tool_choice: str | tools_pb2.ToolChoice  # "auto", "none", "required", or a tool's name
    parallel_tool_calls: bool
    response_format: _tools.ResponseFormatLike  # "json_object", a schema, a pydantic model


class EmbedOptions(TypedDict, total=False):
    """Everything an Embed request can say besides the texts."""

    model: str  # "provider/model", an alias, or an embedding model name
    provider: str  # pin to one configured provider
    dimensions: int  # ask for vectors of this size
    input_type: str  # "document" or "query"
    strategy: str
    disable_fallback: bool
    tenant: str
    user: str
    tags: Sequence[str]


INPUT_TYPES: dict[str, embed_pb2.EmbedInputType] = {
    "document": embed_pb2.EMBED_INPUT_TYPE_DOCUMENT,
    "query": embed_pb2.EMBED_INPUT_TYPE_QUERY,
}


class RetrieveOptions(TypedDict, total=False):
    """How a Retrieve request searches."""

    k: int  # how many passages (default 4)
    search_type: str  # "similarity" (default) or "mmr"
    fetch_k: int  # MMR: candidates to re-rank
    lambda_mult: float  # MMR: 1.0 relevance ... 0.0 diversity
    filter: Mapping[str, Any]  # {"field": value} or {"field": {"$in": [...]}}
    score_threshold: float


def chat_message(message: MessageLike) -> generate_pb2.ChatMessage:
    if isinstance(message, generate_pb2.ChatMessage):
        return message
    if isinstance(message, generate_pb2.GenerateResponse):
        return _tools.assistant_message(message)
    if isinstance(message, tuple):
        role, content = message
        return generate_pb2.ChatMessage(role=role_value(role), content=content)
    out = generate_pb2.ChatMessage(
        role=role_value(str(message["role"])),
        content=message.get("content") or "",
        tool_call_id=message.get("tool_call_id", ""),
    )
    for part in message.get("parts", ()):
        out.parts.append(
            part
            if isinstance(part, generate_pb2.ContentPart)
            else _tools.text_part(part)
            if isinstance(part, str)
            else _tools.image_part(part)
        )
    out.tool_calls.extend(_tools.tool_calls_of(message.get("tool_calls", ())))
    return out


def role_value(role: str) -> generate_pb2.Role:
    try:
        return ROLES[role.lower()]
    except KeyError:
        raise ValueError(f"unknown role {role!r}; use one of {sorted(ROLES)}") from None


def strategy_value(name: str) -> common_pb2.RoutingStrategy:
    enum_name = "ROUTING_STRATEGY_" + name.upper().replace("-", "_")
    try:
        return cast(common_pb2.RoutingStrategy, common_pb2.RoutingStrategy.Value(enum_name))
    except ValueError:
        raise ValueError(f"unknown routing strategy {name!r}") from None


def generate_request(
    prompt: str | None, options: GenerateOptions, *, tenant: str = "", user: str = ""
) -> generate_pb2.GenerateRequest:
    """A GenerateRequest; `tenant` and `user` are the client's defaults for the options'."""
    params = generate_pb2.GenerationParams(stop=list(options.get("stop", ())))
    for name in ("temperature", "top_p", "max_tokens", "repetition_penalty", "seed"):
        if name in options and options[name] is not None:
            setattr(params, name, options[name])
    routing = generate_pb2.RoutingOptions(disable_fallback=options.get("disable_fallback", False))
    if options.get("strategy"):
        routing.strategy = strategy_value(options["strategy"])
    metadata = generate_pb2.RequestMetadata(
        tenant=options.get("tenant", tenant),
        user=options.get("user", user),
        tags=list(options.get("tags", ())),
    )
    if options.get("attributes"):
        metadata.attributes.update(dict(options["attributes"]))
    request = generate_pb2.GenerateRequest(
        prompt=prompt or "",
        messages=[chat_message(m) for m in options.get("messages", ())],
        params=params,
        model=options.get("model", ""),
        provider=options.get("provider", ""),
        routing=routing,
        metadata=metadata,
        tools=[_tools.to_tool(t) for t in options.get("tools", ())],
    )
    if options.get("tool_choice"):
        request.tool_choice.CopyFrom(_tools.tool_choice(options["tool_choice"]))
    if options.get("parallel_tool_calls") is not None:
        request.parallel_tool_calls = options["parallel_tool_calls"]
    if options.get("response_format") is not None:
        request.response_format.CopyFrom(_tools.response_format(options["response_format"]))
    return request


def embed_request(
    inputs: Sequence[str], options: EmbedOptions, *, tenant: str = "", user: str = ""
) -> embed_pb2.EmbedRequest:
    if isinstance(inputs, str):
        raise TypeError("inputs is a list of texts; wrap a single text in a list")
    routing = generate_pb2.RoutingOptions(disable_fallback=options.get("disable_fallback", False))
    if options.get("strategy"):
        routing.strategy = strategy_value(options["strategy"])
    request = embed_pb2.EmbedRequest(
        inputs=list(inputs),
        model=options.get("model", ""),
        provider=options.get("provider", ""),
        routing=routing,
        metadata=generate_pb2.RequestMetadata(
            tenant=options.get("tenant", tenant),
            user=options.get("user", user),
            tags=list(options.get("tags", ())),
        ),
    )
    if options.get("dimensions") is not None:
        request.dimensions = options["dimensions"]
    if options.get("input_type"):
        try:
            request.input_type = INPUT_TYPES[options["input_type"].lower()]
        except KeyError:
            raise ValueError(
                f"unknown input type {options['input_type']!r}; use one of {sorted(INPUT_TYPES)}"
            ) from None
    return request


def stream_request(request: generate_pb2.GenerateRequest) -> generate_pb2.GenerateStreamRequest:
    # The two messages share every field number (docs/contract.md), so bytes carry over.
    return generate_pb2.GenerateStreamRequest.FromString(request.SerializeToString())


def validate_key_request(
    provider: str | int,
    api_key: str,
    *,
    scope: str = "",
    folder_id: str = "",
    base_url: str = "",
    iam_token: bool = False,
) -> validate_key_pb2.ValidateKeyRequest:
    if isinstance(provider, str):
        try:
            kind = PROVIDER_KINDS[provider.lower()]
        except KeyError:
            raise ValueError(
                f"unknown provider kind {provider!r}; use one of {sorted(PROVIDER_KINDS)}"
            ) from None
    else:
        kind = cast(common_pb2.ProviderKind, provider)
    return validate_key_pb2.ValidateKeyRequest(
        provider=kind,
        api_key=api_key,
        scope=scope,
        folder_id=folder_id,
        base_url=base_url,
        credential_type=(
            validate_key_pb2.CREDENTIAL_TYPE_IAM_TOKEN
            if iam_token
            else validate_key_pb2.CREDENTIAL_TYPE_UNSPECIFIED
        ),
    )


def retrieve_request(
    collection: str,
    query: str,
    *,
    k: int = 4,
    search_type: str = "similarity",
    fetch_k: int | None = None,
    lambda_mult: float | None = None,
    filter: Mapping[str, Any] | None = None,
    score_threshold: float | None = None,
) -> retrieve_pb2.RetrieveRequest:
    try:
        kind = SEARCH_TYPES[search_type.lower()]
    except KeyError:
        raise ValueError(
            f"unknown search type {search_type!r}; use one of {sorted(SEARCH_TYPES)}"
        ) from None
    request = retrieve_pb2.RetrieveRequest(
        collection=collection, query=query, k=k, search_type=kind
    )
    if fetch_k is not None:
        request.fetch_k = fetch_k
    if lambda_mult is not None:
        request.lambda_mult = lambda_mult
    if score_threshold is not None:
        request.score_threshold = score_threshold
    if filter:
        request.filter.update(dict(filter))
    return request


def metrics_request(providers: Sequence[str] = ()) -> metrics_pb2.GetMetricsRequest:
    return metrics_pb2.GetMetricsRequest(providers=list(providers))


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)
