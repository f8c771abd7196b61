"""What the Gemini API refuses about function calling, structured output, images and
embeddings (reference: tools-structured-images-embeddings §3). The API takes camelCase and
snake_case keys, and enum values in either case; so do these checks. Each returns the 400
message, or "" when the body passes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
MODES = ("AUTO", "ANY", "NONE", "VALIDATED")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
# Google's documented placeholders for a replayed call without a thought signature.
UNSIGNED = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
COUNT_MISMATCH = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)
MAX_BATCH = 100


def get(obj: Any, camel: str) -> Any:
    """`obj[camel]`, or its snake_case spelling."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in get(body, "tools") or ():
        out += [d for d in get(tool, "functionDeclarations") or () if isinstance(d, dict)]
    return out


def problem(body: dict[str, Any], signed: set[str], needs_signatures: bool) -> str:
    return (
        _declarations(declarations(body))
        or _tool_config(get(body, "toolConfig"), declarations(body))
        or _generation(get(body, "generationConfig"))
        or _contents(get(body, "contents"), signed, needs_signatures)
    )


def _declarations(found: list[dict[str, Any]]) -> str:
    for i, declaration in enumerate(found):
        where = f"* GenerateContentRequest.tools[0].function_declarations[{i}]"
        if not NAME.match(str(declaration.get("name", ""))):
            return (
                f"{where}.name: Invalid function name. Must start with a letter or an "
                "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), "
                "colons (:), or dashes (-), with a maximum length of 128."
            )
        if get(declaration, "parameters") is not None and (
            get(declaration, "parametersJsonSchema") is not None
        ):
            return f"{where}: parameters and parameters_json_schema are mutually exclusive"
    return ""


def _tool_config(config: Any, found: list[dict[str, Any]]) -> str:
    calling = get(config, "functionCallingConfig")
    if calling is None:
        return ""
    mode = str(get(calling, "mode") or "AUTO").upper()
    if mode not in MODES:
        return f"Invalid value at 'tool_config.function_calling_config.mode' ({mode})"
    allowed = get(calling, "allowedFunctionNames")
    if allowed and mode != "ANY":
        return (
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "allowed_function_names may only be set when mode is ANY"
        )
    names = {d.get("name") for d in found}
    unknown = [n for n in allowed or () if n not in names]
    if unknown:
        return f"allowed_function_names contains a function that is not declared: {unknown[0]}"
    return ""


def _generation(config: Any) -> str:
    schema, json_schema = get(config, "responseSchema"), get(config, "responseJsonSchema")
    if schema is not None and json_schema is not None:
        return "response_schema and response_json_schema are mutually exclusive"
    mime = get(config, "responseMimeType")
    if (schema is not None or json_schema is not None) and mime != "application/json":
        return (
            "* GenerateContentRequest.generation_config.response_mime_type: a response schema "
            "requires response_mime_type application/json"
        )
    return ""


def _contents(contents: Any, signed: set[str], needs_signatures: bool) -> str:
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    calls = 0
    for i, content in enumerate(contents):
        parts = get(content, "parts") or []
        role = get(content, "role") or "user"
        made = [p for p in parts if get(p, "functionCall") is not None]
        answered = [p for p in parts if get(p, "functionResponse") is not None]
        if answered and len(answered) != calls:
            return COUNT_MISMATCH
        if role == "model" and made and needs_signatures:
            wrong = _signature(made[0], i, signed)
            if wrong:
                return wrong
        for j, part in enumerate(parts):
            wrong = _inline(get(part, "inlineData"), f"contents[{i}].parts[{j}]")
            if wrong:
                return wrong
        calls = len(made) if role == "model" else 0
    return ""


def _signature(part: dict[str, Any], index: int, signed: set[str]) -> str:
    signature = get(part, "thoughtSignature")
    if signature is None:
        name = get(get(part, "functionCall"), "name")
        return (
            "Function call is missing a thought_signature in functionCall parts. This is "
            "required for tools to work correctly, and missing thought_signature may lead to "
            f"degraded model performance. Additional data, function call `default_api:{name}` "
            f", position {index + 1}. Please refer to "
            "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
        )
    if signature not in signed and signature not in UNSIGNED:
        return "Corrupted thought signature."
    return ""


def _inline(blob: Any, where: str) -> str:
    if blob is None:
        return ""
    if get(blob, "mimeType") not in IMAGE_TYPES:
        return f"* GenerateContentRequest.{where}.inline_data.mime_type: Unsupported MIME type"
    data = str(get(blob, "data") or "")
    try:
        # The SDK sends URL-safe base64, curl examples the standard alphabet: both pass.
        base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
    return ""


def embed_problem(items: Any, model: str) -> str:
    if not isinstance(items, list) or not items:
        return "* BatchEmbedContentsRequest.requests: requests is not specified"
    if len(items) > MAX_BATCH:
        return f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests per batch"
    for i, item in enumerate(items):
        if get(item, "model") != f"models/{model}":
            return (
                f"* BatchEmbedContentsRequest.requests[{i}].model: the model must match the "
                f"batch's model models/{model}"
            )
        parts = get(get(item, "content"), "parts") or []
        if not parts or not all(isinstance(get(p, "text"), str) for p in parts):
            return f"* BatchEmbedContentsRequest.requests[{i}].content: text is required"
    return ""
