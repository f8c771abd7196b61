"""`orchestrator generate | embed | metrics | models | validate-key | retrieve | reload`: the
client from a shell (the options every command shares: cli_connection.py).

Exit codes: 0 success; 1 the server answered with an error (status and message printed);
2 usage error (bad flags or values); 3 the server cannot be reached; 4 `validate-key`: the
provider rejected the key; 5 `validate-key`: the key could not be checked (the provider was
unreachable, timed out, rate-limited or failed: a verdict on the network, not on the key);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, message

from orchestrator.v1 import validate_key_pb2
from orchestrator_client.cli_connection import UsageError, client_from, common_options
from orchestrator_client.errors import ConnectError, OrchestratorError, Unimplemented
from orchestrator_client.requests import (
    PROVIDER_KINDS,
    EmbedOptions,
    GenerateOptions,
    RetrieveOptions,
)
from orchestrator_client.sync import OrchestratorClient
from orchestrator_client.tables import (
    documents_text,
    generation_summary,
    metrics_table,
    models_table,
    reload_summary,
)

EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, EXIT_CONNECT, EXIT_KEY_REJECTED = 0, 1, 2, 3, 4
EXIT_KEY_UNCHECKED, EXIT_INTERRUPTED = 5, 130
# Verdicts about the provider or the network rather than the key: the key may well be fine.
UNCHECKED_CODES = frozenset(
    {
        validate_key_pb2.VALIDATION_ERROR_CODE_RATE_LIMIT_EXCEEDED,
        validate_key_pb2.VALIDATION_ERROR_CODE_NETWORK_TIMEOUT,
        validate_key_pb2.VALIDATION_ERROR_CODE_PROVIDER_ERROR,
        validate_key_pb2.VALIDATION_ERROR_CODE_VALIDATION_ERROR,
    }
)
# Configured kinds ValidateKey has no check for: named so the CLI can say why.
UNVALIDATED_KINDS = {
    "azure-openai": (
        "ValidateKey cannot check Azure OpenAI keys (its api-key header, resource URL and "
        "api-version need their own call; see docs/validate-key.md). Configure the provider "
        "and run `orchestrator check-providers --config FILE`, which calls its health check "
        "with the key."
    ),
}

Handler = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """`orchestrator-client`: the client commands alone, for a machine with only the client
    distribution (the server's `orchestrator` command has the same ones)."""
    parser = argparse.ArgumentParser(
        prog="orchestrator-client", description="Call an orchestrator gateway from a shell."
    )
    handlers = add_client_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    return handlers[args.command](args)


def add_client_commands(sub: Any) -> dict[str, Handler]:
    """Adds the client commands to an argparse subparsers object; returns their handlers."""
    common = common_options()

    gen = sub.add_parser("generate", parents=[common], help="generate text through the gateway")
    gen.add_argument("prompt", help="the user message")
    gen.add_argument("--stream", action="store_true", help="print text as it arrives")
    gen.add_argument("--model", help='"provider/model", an alias, or a model name')
    gen.add_argument("--provider", help="pin to one configured provider")
    gen.add_argument("--system", help="a system message to send first")
    gen.add_argument("--max-tokens", type=int)
    gen.add_argument("--temperature", type=float)
    gen.add_argument("--strategy", help="routing strategy for this call, e.g. round-robin")
    gen.add_argument("--no-fallback", action="store_true", help="try only the first provider")
    gen.add_argument(
        "--tool",
        action="append",
        metavar="FILE",
        help='a tool the model may call: JSON {"name", "description", "parameters"} (repeatable)',
    )
    gen.add_argument("--tool-choice", help='"auto", "none", "required", or a tool name')
    gen.add_argument("--schema", metavar="FILE", help="answer JSON matching this JSON Schema")
    gen.add_argument(
        "-v", "--verbose", action="store_true", help="print provider, usage and fallbacks"
    )

    emb = sub.add_parser("embed", parents=[common], help="embed texts through the gateway")
    emb.add_argument("texts", nargs="*", help="texts to embed (or --stdin)")
    emb.add_argument("--stdin", action="store_true", help="read one text per line from stdin")
    emb.add_argument("--model", help='"provider/model", an alias, or an embedding model name')
    emb.add_argument("--provider", help="pin to one configured provider")
    emb.add_argument("--dimensions", type=int, help="ask for vectors of this size")
    emb.add_argument("--query", action="store_true", help="the texts are search queries")
    emb.add_argument("--no-fallback", action="store_true", help="try only the first provider")
    emb.add_argument(
        "-v", "--verbose", action="store_true", help="print provider, model, size and usage"
    )

    met = sub.add_parser("metrics", parents=[common], help="per-provider health and latency")
    met.add_argument("providers", nargs="*", help="only these providers")

    mod = sub.add_parser("models", parents=[common], help="the models each provider offers")
    mod.add_argument("providers", nargs="*", help="only these providers")
    mod.add_argument("--refresh", action="store_true", help="ask the providers again now")

    key = sub.add_parser("validate-key", parents=[common], help="check a provider key")
    key.add_argument(
        "--provider", required=True, choices=sorted({*PROVIDER_KINDS, *UNVALIDATED_KINDS})
    )
    source = key.add_mutually_exclusive_group(required=True)
    source.add_argument("--key-env", metavar="VAR", help="read the key from $VAR")
    source.add_argument("--key-stdin", action="store_true", help="read the key from stdin")
    key.add_argument("--scope", default="", help="GigaChat scope (empty: detect)")
    key.add_argument("--folder-id", default="", help="Yandex Cloud folder id")
    key.add_argument("--base-url", default="", help="endpoint to check (if the server allows)")
    key.add_argument("--iam-token", action="store_true", help="the key is a Yandex IAM token")

    ret = sub.add_parser("retrieve", parents=[common], help="search a document collection")
    ret.add_argument("collection")
    ret.add_argument("query")
    ret.add_argument("-k", type=int, default=4, help="how many passages (default 4)")
    ret.add_argument("--mmr", action="store_true", help="diverse results (max marginal relevance)")
    ret.add_argument("--fetch-k", type=int, help="MMR: candidates to re-rank")
    ret.add_argument("--lambda-mult", type=float, help="MMR: 1 relevance .. 0 diversity")
    ret.add_argument("--filter", help='metadata filter as JSON, e.g. \'{"lang": "en"}\'')
    ret.add_argument("--score-threshold", type=float)

    rel = sub.add_parser(
        "reload",
        parents=[common],
        help="make a running server re-read its config file (AdminService, or SIGHUP)",
    )
    rel.add_argument(
        "--pid-file",
        metavar="FILE",
        help="send SIGHUP to the pid in FILE (`serve --pid-file`) instead of calling the server",
    )
    rel.add_argument("--validate-only", action="store_true", help="check the file, apply nothing")
    rel.add_argument(
        "--no-preserve-metrics", action="store_true", help="start every provider's stats afresh"
    )
    # AdminService takes the admin token, not a caller key: --auth-token-env names its
    # variable here, by default $ORCHESTRATOR_ADMIN_TOKEN.
    rel.set_defaults(admin_call=True)

    return {
        "reload": _guarded(_reload),
        "generate": _guarded(_generate),
        "embed": _guarded(_embed),
        "metrics": _guarded(_metrics),
        "models": _guarded(_models),
        "validate-key": _guarded(_validate_key),
        "retrieve": _guarded(_retrieve),
    }


def _guarded(command: Callable[[argparse.Namespace, OrchestratorClient], int]) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            with client_from(args) as client:
                return command(args, client)
        except (UsageError, ValueError) as exc:
            print(f"orchestrator {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ConnectError as exc:
            print(
                f"orchestrator: cannot reach the server at {args.address}: {exc.message}\n"
                "  Is it running? Start one with `orchestrator serve`, or pass --address.",
                file=sys.stderr,
            )
            return EXIT_CONNECT
        except Unimplemented as exc:
            print(
                f"orchestrator: the server at {args.address} does not implement this call "
                f"yet (UNIMPLEMENTED): {exc.message}",
                file=sys.stderr,
            )
            return EXIT_SERVER_ERROR
        except OrchestratorError as exc:
            print(f"orchestrator: the server answered {exc.describe()}", file=sys.stderr)
            return EXIT_SERVER_ERROR
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED

    return run


def _generate(args: argparse.Namespace, client: OrchestratorClient) -> int:
    options: GenerateOptions = {"disable_fallback": args.no_fallback}
    if args.system:
        options["messages"] = [("system", args.system), ("user", args.prompt)]
    for name in ("model", "provider", "max_tokens", "temperature", "strategy"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    _tool_options(args, options)
    prompt = None if args.system else args.prompt
    if not args.stream:
        reply = client.generate(prompt, request_id=args.request_id, **options)
        if args.json:
            _print_json(reply)
            return EXIT_OK
        if reply.text or not reply.tool_calls:
            print(reply.text)
        for call in reply.tool_calls:
            print(f"tool call {call.id}: {call.name}({call.arguments})")
        if args.verbose:
            summary = generation_summary(
                reply.provider,
                reply.model,
                reply.usage,
                reply.finish_reason,
                reply.attempts,
                reply.request_id,
            )
            print(summary, file=sys.stderr)
        return EXIT_OK
    with client.stream(prompt, request_id=args.request_id, **options) as stream:
        last = "\n"  # the last character written to stdout, as far as this command knows
        try:
            for n, text in enumerate(stream):
                if args.json:  # one JSON object per event, as they arrive
                    if n == 0 and stream.start is not None:
                        _print_json_line({"start": json_format.MessageToDict(stream.start)})
                    _print_json_line({"delta": {"text": text}})
                elif text:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    last = text[-1]
        except OrchestratorError:
            # The partial text ends its own line, so the error (on stderr) starts a new one
            # on a terminal, and a script reading stdout still gets a complete last line.
            if last != "\n":
                print(flush=True)
            raise
        if args.json:
            if stream.end is not None:
                _print_json_line({"end": json_format.MessageToDict(stream.end)})
            return EXIT_OK
        print()
        if args.verbose:
            summary = generation_summary(
                stream.provider,
                stream.model,
                stream.usage,
                stream.finish_reason,
                stream.attempts,
                stream.request_id,
            )
            print(summary, file=sys.stderr)
    return EXIT_OK


def _tool_options(args: argparse.Namespace, options: GenerateOptions) -> None:
    if args.tool:
        options["tools"] = [_json_file(path, "--tool") for path in args.tool]
    if args.tool_choice:
        options["tool_choice"] = args.tool_choice
    if args.schema:
        options["response_format"] = _json_file(args.schema, "--schema")


def _json_file(path: str, flag: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {flag} {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} {path} is not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} {path} must hold a JSON object")
    return value


def _embed(args: argparse.Namespace, client: OrchestratorClient) -> int:
    texts = list(args.texts)
    if args.stdin:
        texts += [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UsageError("give texts to embed, or --stdin")
    options: EmbedOptions = {"disable_fallback": args.no_fallback}
    if args.query:
        options["input_type"] = "query"
    for name in ("model", "provider", "dimensions"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    reply = client.embed(texts, request_id=args.request_id, **options)
    if args.json:
        _print_json(reply)
        return EXIT_OK
    for embedding in reply.embeddings:  # one JSON array per text, in input order
        print(json.dumps([round(v, 7) for v in embedding.values]))
    if args.verbose:
        usage = reply.usage
        estimated = " (estimated)" if usage.estimated else ""
        print(
            f"{reply.provider} {reply.model}: {len(reply.embeddings)} vectors of "
            f"{reply.dimensions}, {usage.prompt_tokens} tokens{estimated}",
            file=sys.stderr,
        )
    return EXIT_OK


def _metrics(args: argparse.Namespace, client: OrchestratorClient) -> int:
    reply = client.metrics(args.providers, request_id=args.request_id)
    if args.json:
        _print_json(reply)
    else:
        print(metrics_table(reply))
    return EXIT_OK


def _models(args: argparse.Namespace, client: OrchestratorClient) -> int:
    reply = client.list_models(args.providers, refresh=args.refresh, request_id=args.request_id)
    if args.json:
        _print_json(reply)
    else:
        print(models_table(reply))
    return EXIT_OK


def _validate_key(args: argparse.Namespace, client: OrchestratorClient) -> int:
    if args.provider in UNVALIDATED_KINDS:
        raise UsageError(UNVALIDATED_KINDS[args.provider])
    if args.key_stdin:
        key = sys.stdin.readline().strip()
    else:
        key = os.environ.get(args.key_env, "")
        if not key:
            raise UsageError(f"${args.key_env} is not set")
    if not key:
        raise UsageError("the key is empty")
    reply = client.validate_key(
        args.provider,
        key,
        scope=args.scope,
        folder_id=args.folder_id,
        base_url=args.base_url,
        iam_token=args.iam_token,
        request_id=args.request_id,
    )
    unchecked = not reply.valid and reply.error_code in UNCHECKED_CODES
    if args.json:
        _print_json(reply)
    else:
        code = validate_key_pb2.ValidationErrorCode.Name(reply.error_code)
        code = code.removeprefix("VALIDATION_ERROR_CODE_")
        if reply.valid:
            print(f"{args.provider} key valid: {reply.message}")
        elif unchecked:
            print(f"{args.provider} key NOT CHECKED ({code}): {reply.message}")
            print("  the provider could not give a verdict; the key itself may be fine")
        else:
            print(f"{args.provider} key REJECTED ({code}): {reply.message}")
        if reply.details.detected_scope:
            print(f"  scope {reply.details.detected_scope}")
        if reply.retry_after.ToNanoseconds():
            print(f"  retry after {reply.retry_after.ToNanoseconds() / 1e9:g} s")
    if reply.valid:
        return EXIT_OK
    return EXIT_KEY_UNCHECKED if unchecked else EXIT_KEY_REJECTED


def _reload(args: argparse.Namespace, client: OrchestratorClient) -> int:
    if args.pid_file:
        return _signal_reload(args.pid_file)
    reply = client.reload_config(
        preserve_metrics=not args.no_preserve_metrics,
        validate_only=args.validate_only,
        request_id=args.request_id,
    )
    if args.json:
        _print_json(reply)
    else:
        print(reload_summary(reply.result))
    return EXIT_OK


def _signal_reload(pid_file: str) -> int:
    try:
        with open(pid_file, encoding="ascii") as f:
            pid = int(f.read().strip())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read a pid from {pid_file}: {exc}") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"orchestrator: no process {pid} (from {pid_file}): is the server running?",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONNECT
    except PermissionError:
        raise UsageError(f"not allowed to signal process {pid} (from {pid_file})") from None
    print(f"sent SIGHUP to {pid}; the server logs whether the reload was applied")
    return EXIT_OK


def _retrieve(args: argparse.Namespace, client: OrchestratorClient) -> int:
    options: RetrieveOptions = {"k": args.k, "search_type": "mmr" if args.mmr else "similarity"}
    if args.filter:
        try:
            options["filter"] = json.loads(args.filter)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--filter is not JSON: {exc.msg}") from None
        if not isinstance(options["filter"], dict):
            raise UsageError("--filter must be a JSON object")
    for name in ("fetch_k", "lambda_mult", "score_threshold"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    reply = client.retrieve(args.collection, args.query, request_id=args.request_id, **options)
    if args.json:
        _print_json(reply)
    else:
        print(documents_text(reply))
    return EXIT_OK


def _print_json(reply: message.Message) -> None:
    print(json_format.MessageToJson(reply, indent=2))


def _print_json_line(event: dict[str, Any]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)
