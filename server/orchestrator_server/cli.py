"""`orchestrator serve | check-config | check-providers | health-check | keys new | config`,
plus the client commands (`generate | embed | metrics | models | validate-key | retrieve |
reload`, from orchestrator_client.cli)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import yaml

from orchestrator_client.cli import add_client_commands
from orchestrator_client.cli_connection import UsageError, add_tls_arguments, tls_files
from orchestrator_server import __version__
from orchestrator_server.config import Config, ConfigError, default_config, load_config
from orchestrator_server.config.providers import PROVIDER_KINDS
from orchestrator_server.config.telemetry import ADDRESS_PATTERN
from orchestrator_server.retrieval.cli import add_index_parser, run_index

ADDRESS_HELP = "HOST:PORT to listen on or connect to"
# Where `serve` listens when --address is not given (before the config's server.address),
# and where `health-check` looks by default: a container image sets them once, and its
# HEALTHCHECK follows wherever the server was told to listen.
LISTEN_ENV = "ORCHESTRATOR_LISTEN_ADDRESS"
METRICS_ENV = "ORCHESTRATOR_METRICS_ADDRESS"
CLIENT_ENV = "ORCHESTRATOR_ADDRESS"
DEFAULT_TARGET = "127.0.0.1:50051"


def main(argv: Sequence[str] | None = None) -> int:
    parser, client_commands = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {
        "serve": _serve,
        "check-config": _check_config,
        "check-providers": _check_providers,
        "health-check": _health_check,
        "keys": _keys,
        "config": _describe_config,
        **client_commands,
        "index": run_index,
    }
    return handler[args.command](args)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(
        prog="orchestrator", description="gRPC gateway in front of many LLM providers."
    )
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--config", help="YAML config file (default: the embedded mock setup)")
    serve.add_argument(
        "--address", help=f"{ADDRESS_HELP} (default ${LISTEN_ENV}, else server.address)"
    )
    serve.add_argument(
        "--metrics-address",
        type=_metrics_address,
        help="HOST:PORT for Prometheus' GET /metrics, or 'off' "
        f"(default ${METRICS_ENV}, else telemetry.metrics.address)",
    )
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes sharing the port, under a supervisor; 'auto': one per core "
        "(default 1: a single process, no supervisor)",
    )
    # Set by the supervisor for each worker it starts (workers/role.py).
    for option in ("--worker-index", "--worker-count", "--worker-fd"):
        serve.add_argument(option, type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-dir", help=argparse.SUPPRESS)
    serve.add_argument(
        "--pid-file",
        metavar="FILE",
        help="write the server's pid to FILE while it runs (for kill -HUP, orchestrator reload); "
        "with --workers, the supervisor's, which relays SIGHUP to every worker",
    )

    check = sub.add_parser("check-config", help="validate a config file and summarise it")
    check.add_argument("file")

    providers = sub.add_parser(
        "check-providers", help="call each configured provider's free health check"
    )
    providers.add_argument("--config", help="YAML config file (default: the embedded one)")
    providers.add_argument("--timeout", type=float, default=10.0, help="seconds per provider")

    describe = sub.add_parser("config", help="describe the configuration file's format")
    what = describe.add_subparsers(dest="config_command", required=True)
    what.add_parser("schema", help="print a JSON Schema of the configuration file")
    defaults = what.add_parser("defaults", help="print every key with its default, as YAML")
    defaults.add_argument(
        "--provider", metavar="KIND", choices=PROVIDER_KINDS, help="a provider entry of KIND"
    )

    probe = sub.add_parser("health-check", help="ask a running server's gRPC health service")
    probe.add_argument(
        "--address",
        help=f"{ADDRESS_HELP} (default: where ${LISTEN_ENV} says the server listens, "
        f"else ${CLIENT_ENV}, else {DEFAULT_TARGET})",
    )
    probe.add_argument("--service", default="", help="service name ('' for the whole server)")
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds")
    add_tls_arguments(probe)

    keys = sub.add_parser("keys", help="caller keys for the auth section")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser(
        "new", help="print a fresh caller key and the auth.keys entry that admits it"
    )
    new.add_argument("--id", help="the key's id (default: key-<random>)")
    new.add_argument("--tenant", default="default", help="who its usage is attributed to")
    new.add_argument(
        "--models",
        nargs="+",
        default=["*"],
        metavar="PATTERN",
        help='what it may use: "*", "provider/*", "provider/model", an alias (default *)',
    )
    new.add_argument("--expires-at", help="ISO date or time (UTC unless it says), e.g. 2027-01-31")
    new.add_argument("--json", action="store_true", help="print {key, entry} as JSON")
    add_index_parser(sub)
    return parser, add_client_commands(sub)


def _metrics_address(value: str) -> str:
    if value == "off" or re.match(ADDRESS_PATTERN, value):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is neither HOST:PORT nor 'off'")


def _workers(value: str) -> int:
    from orchestrator_server.workers.cores import parse_workers

    try:
        return parse_workers(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: a number of workers from 1 to 256, or 'auto'"
        ) from None


def _load(path: str | None) -> Config:
    return default_config() if path is None else load_config(path)


def _serve(args: argparse.Namespace) -> int:
    from orchestrator_server.app import StartupError, serve
    from orchestrator_server.telemetry.logs import configure_logging

    address = args.address or os.environ.get(LISTEN_ENV) or None
    metrics = args.metrics_address or os.environ.get(METRICS_ENV) or None
    try:
        if metrics is not None:
            _metrics_address(metrics)
        if address is not None and not re.match(ADDRESS_PATTERN, address):
            raise argparse.ArgumentTypeError(f"{address!r} is not HOST:PORT")
    except argparse.ArgumentTypeError as exc:
        print(f"orchestrator serve: {exc}", file=sys.stderr)
        return 2

    try:
        config = _load(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    configure_logging(
        args.log_level or config.logging.level,
        json_format=config.logging.json_format,
        worker=args.worker_index,
    )
    if args.worker_index is None and args.workers > 1:
        return _supervise(args, config, address, metrics)
    worker = None
    if args.worker_index is not None:
        from orchestrator_server.workers.role import WorkerRole

        worker = WorkerRole(
            args.worker_index, args.worker_count, Path(args.worker_dir), args.worker_fd
        )
    try:
        _run(
            serve(
                config,
                address=address,
                config_path=args.config,
                metrics_address=metrics,
                worker=worker,
                pid_file=args.pid_file,
            )
        )
    except StartupError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1
    return 0


def _supervise(
    args: argparse.Namespace, config: Config, address: str | None, metrics: str | None
) -> int:
    """`serve --workers N`: the supervisor (workers/supervisor.py) in this process, each
    worker an `orchestrator serve` of its own with the same options."""
    from orchestrator_server.pidfile import PidFileError
    from orchestrator_server.workers.supervisor import Plan, Supervisor, WorkersError

    forwarded = []
    for option, value in (
        ("--config", args.config),
        ("--metrics-address", metrics),
        ("--log-level", args.log_level),
    ):
        if value is not None:
            forwarded += [option, value]
    if metrics is None:
        metrics = config.telemetry.metrics.address
    plan = Plan(
        count=args.workers,
        address=address or config.server.address,
        metrics_address=None if metrics in (None, "", "off") else metrics,
        grace_period=config.server.grace_period,
        worker_args=forwarded,
        admin_enabled=config.reload.admin.enabled,
        pid_file=None if args.pid_file is None else Path(args.pid_file),
    )
    try:
        # The supervisor starts processes and relays signals: the standard loop suits it.
        return asyncio.run(Supervisor(plan).run())
    except (WorkersError, PidFileError) as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1


def _check_config(args: argparse.Namespace) -> int:
    """Exit 1 for what `serve` would refuse: an invalid file, or (in this environment) an
    unset key or token variable, a missing index. Warnings leave it at 0."""
    from orchestrator_server.preflight import preflight

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    findings = preflight(config, args.file)
    fatal = [f.problem for f in findings if f.fatal]
    if fatal:
        print(
            f"{args.file}: valid, but `serve` would not start in this environment", file=sys.stderr
        )
        for problem in fatal:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    print(f"  listen on   {config.server.address}")
    fallback = "on" if config.router.fallback else "off"
    print(f"  strategy    {config.router.strategy} (fallback {fallback})")
    for p in config.providers:
        state = "" if p.enabled else " (disabled)"
        env = getattr(p, "api_key_env", None)
        key = f", key from ${env}" if env else ""
        if env and not os.environ.get(env):
            key += " (not set in this environment)"
        print(f"  provider    {p.name}: {p.kind} {p.model}{key}{state}")
    for alias, targets in config.aliases.items():
        print(f"  alias       {alias} -> {', '.join(targets)}")
    for c in config.retrieval.collections:
        print(f"  collection  {c.name}: {c.path}")
    for f in findings:
        print(f"  warning     {f.problem}")
    return 0


def _describe_config(args: argparse.Namespace) -> int:
    from orchestrator_server.config.describe import defaults_text, schema_text

    if args.config_command == "schema":
        sys.stdout.write(schema_text())
    else:
        sys.stdout.write(defaults_text(args.provider))
    return 0


def _check_providers(args: argparse.Namespace) -> int:
    from orchestrator_server.providers.checks import check_providers
    from orchestrator_server.providers.registry import ProviderSetupError, build_providers

    try:
        config = _load(args.config)
        providers = build_providers(config.providers)
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    except ProviderSetupError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 2

    async def run() -> bool:
        try:
            results = await check_providers(providers, timeout=args.timeout)
        finally:
            await asyncio.gather(*(p.aclose() for p in providers))
        for r in results:
            verdict = "ok" if r.ok else f"FAILED {r.error_code}: {r.message}"
            where = f"  ({r.endpoint})" if r.endpoint else ""
            print(f"  {r.provider:<20} {r.kind:<13} {r.latency * 1000:7.0f} ms  {verdict}{where}")
        return all(r.ok for r in results)

    ok = asyncio.run(run())
    return 0 if ok else 1


def _health_check(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        roots, key, chain = tls_files(args)
    except UsageError as exc:
        print(f"orchestrator health-check: {exc}", file=sys.stderr)
        return 2
    address = args.address or _health_target()
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    if args.tls or roots or chain:
        credentials = grpc.ssl_channel_credentials(roots, key, chain)
        channel = grpc.secure_channel(address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name} {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(status)
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def _keys(args: argparse.Namespace) -> int:
    from orchestrator_server.auth.newkey import key_entry, new_key

    expires = None
    if args.expires_at:
        try:
            expires = datetime.datetime.fromisoformat(args.expires_at.replace("Z", "+00:00"))
        except ValueError:
            print(
                f"orchestrator keys new: --expires-at {args.expires_at!r} is not ISO 8601",
                file=sys.stderr,
            )
            return 2
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
    key = new_key()
    entry = key_entry(
        key, key_id=args.id, tenant=args.tenant, models=args.models, expires_at=expires
    )
    if args.json:
        print(json.dumps({"key": key, "entry": entry}))
        return 0
    print("# The key: give it to the caller (it is not stored; only its hash goes in the config)")
    print(key)
    print("# The entry: add it under auth.keys")
    print(yaml.safe_dump([entry], sort_keys=False), end="")
    return 0


def _health_target() -> str:
    """The server's own listen address as a target: a wildcard host means this machine."""
    listen = os.environ.get(LISTEN_ENV)
    if listen:
        host, _, port = listen.rpartition(":")
        if host in ("", "0.0.0.0", "[::]", "::"):
            host = "127.0.0.1"
        return f"{host}:{port}"
    return os.environ.get(CLIENT_ENV) or DEFAULT_TARGET


def _print_config_error(exc: ConfigError) -> None:
    print(f"{exc.source}: invalid configuration", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(coro)
    else:
        uvloop.run(coro)
