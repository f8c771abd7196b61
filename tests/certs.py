"""Certificates for TLS tests, made by trustme on the spot (nothing downloaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA certificate, PEM
    server_cert: Path  # chain for 127.0.0.1 and localhost
    server_key: Path
    client_cert: Path
    client_key: Path

    def read(self, name: str) -> bytes:
        path: Path = getattr(self, name)
        return path.read_bytes()

    def tls(self, *, mutual: bool = False) -> dict[str, str]:
        """The `server.tls` section that serves these certificates."""
        section = {"cert_file": str(self.server_cert), "key_file": str(self.server_key)}
        if mutual:
            section["client_ca_file"] = str(self.ca)
        return section


def make_certs(folder: Path, prefix: str = "") -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("backend.example")
    paths = Certs(
        *(
            folder / f"{prefix}{n}.pem"
            for n in ("ca", "server", "server-key", "client", "client-key")
        )
    )
    ca.cert_pem.write_to_path(str(paths.ca))
    for leaf, cert, key in (
        (server, paths.server_cert, paths.server_key),
        (client, paths.client_cert, paths.client_key),
    ):
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
    return paths
