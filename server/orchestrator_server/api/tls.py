"""TLS on the gRPC port: the server's certificate, and with a client CA, mutual TLS.

The credentials are dynamic: `reload()` (called after every applied configuration reload)
reads the files again, and the next handshake uses the new ones while connections already
open keep theirs. A set of files that does not load (a key that does not match its
certificate, a half-written file) is refused and the last good one stays."""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
from dataclasses import dataclass

import grpc

from orchestrator_server.config.auth import TlsConfig

log = logging.getLogger(__name__)


class TlsSetupError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Files:
    cert: bytes
    key: bytes
    client_ca: bytes | None


class ServerTls:
    def __init__(self, config: TlsConfig) -> None:
        self._config = config
        self._files = self._read()  # raises TlsSetupError at start
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._lock = threading.Lock()  # the fetcher runs on a gRPC core thread

    @property
    def mutual(self) -> bool:
        return self._config.client_ca_file is not None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            _configuration(self._files),
            self._fetch,  # type: ignore[arg-type]  # None (keep the current one) is allowed
            require_client_authentication=self.mutual,
        )

    def reload(self) -> bool:
        """Reads the files again; True when they changed and the next handshakes use them."""
        try:
            files = self._read()
        except TlsSetupError as exc:
            log.error("server.tls: keeping the current certificates: %s", exc)
            return False
        if files == self._files:
            return False
        with self._lock:
            self._files = files
            self._pending = _configuration(files)
        log.info("server.tls: certificates re-read; new connections use them")
        return True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Asked before each handshake: None keeps the configuration in use.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def _read(self) -> _Files:
        config = self._config
        try:
            cert = config.cert_file.read_bytes()
            key = config.key_file.read_bytes()
            ca = None if config.client_ca_file is None else config.client_ca_file.read_bytes()
        except OSError as exc:
            raise TlsSetupError(f"cannot read {exc.filename}: {exc.strerror}") from None
        # ssl checks what gRPC would only find at the first handshake: PEM that parses, and
        # a key that belongs to the certificate.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise TlsSetupError(
                f"server.tls.cert_file / key_file: not a matching PEM certificate and key ({exc})"
            ) from None
        if ca is not None:
            try:
                context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as exc:
                raise TlsSetupError(
                    f"server.tls.client_ca_file: not PEM CA certificates ({exc})"
                ) from None
        return _Files(cert, key, ca)


def _configuration(files: _Files) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(files.key, files.cert)], root_certificates=files.client_ca
    )


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT listens only on this machine."""
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
