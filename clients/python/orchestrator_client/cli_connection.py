"""The options every client command shares, and the client they describe: the server's
address, the deadline, TLS (also `orchestrator health-check`'s), and the token sent as
`authorization: Bearer` (a caller key; for `reload`, the admin token)."""

from __future__ import annotations

import argparse
import os

from orchestrator_client.connection import DEFAULT_TARGET
from orchestrator_client.sync import OrchestratorClient

ADDRESS_ENV = "ORCHESTRATOR_ADDRESS"
API_KEY_ENV = "ORCHESTRATOR_API_KEY"  # the caller key, when --auth-token-env names no other
ADMIN_TOKEN_ENV = "ORCHESTRATOR_ADMIN_TOKEN"  # `reload`'s, when --auth-token-env names no other


class UsageError(Exception):
    pass


def common_options() -> argparse.ArgumentParser:
    """The options every client command takes: where the server is, TLS, the token."""
    common = argparse.ArgumentParser(add_help=False)
    default_address = os.environ.get(ADDRESS_ENV, DEFAULT_TARGET)
    common.add_argument(
        "--address",
        default=default_address,
        help=f"server HOST:PORT (default ${ADDRESS_ENV} or {DEFAULT_TARGET})",
    )
    common.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")
    add_tls_arguments(common)
    common.add_argument(
        "--auth-token-env",
        metavar="VAR",
        help=f"send $VAR (the caller key) as `authorization: Bearer` (default ${API_KEY_ENV}; "
        f"`reload`: the admin token, default ${ADMIN_TOKEN_ENV})",
    )
    common.add_argument("--request-id", help="x-request-id to send")
    common.add_argument("--json", action="store_true", help="print the reply as JSON")
    return common


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca-file", help="PEM roots to trust (implies --tls)")
    parser.add_argument("--cert-file", help="PEM client certificate, for mTLS (implies --tls)")
    parser.add_argument("--key-file", help="PEM private key of --cert-file")
    parser.add_argument("--server-name", help="name the server's certificate must carry")


def tls_files(args: argparse.Namespace) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(roots, client key, client certificate) from the TLS options; UsageError if unusable."""
    if bool(args.cert_file) != bool(args.key_file):
        raise UsageError("--cert-file and --key-file go together")
    return (
        _read(args.ca_file, "--ca-file"),
        _read(args.key_file, "--key-file"),
        _read(args.cert_file, "--cert-file"),
    )


def _read(path: str | None, option: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {option}: {exc.strerror}") from None


def client_from(args: argparse.Namespace) -> OrchestratorClient:
    """The client the common options describe (UsageError if they are unusable)."""
    roots, key, chain = tls_files(args)
    token = _token(args)
    return OrchestratorClient(
        args.address,
        tls=args.tls,
        root_certificates=roots,
        private_key=key,
        certificate_chain=chain,
        server_name=args.server_name,
        auth_token=token,
        timeout=args.timeout,
    )


def _token(args: argparse.Namespace) -> str | None:
    """What goes as `authorization: Bearer`: the caller key, or for `reload` the admin token
    (AdminService is served only with one, so a call without it cannot succeed)."""
    admin = getattr(args, "admin_call", False)
    if admin and args.pid_file:
        return None  # a signal, not a call
    env = args.auth_token_env or (ADMIN_TOKEN_ENV if admin else None)
    if env is None:
        return os.environ.get(API_KEY_ENV) or None
    token = os.environ.get(env)
    if not token:
        why = " (AdminService takes the admin token; or reload by --pid-file)" if admin else ""
        raise UsageError(f"${env} is not set{why}")
    return token
