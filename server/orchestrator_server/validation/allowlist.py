"""Where ValidateKey may send a key: per kind, the base URLs of the configured providers,
the operator's extra ones and the official public endpoints, in that order. A request names
one of them, or a path below one (same scheme, host and port); an empty base_url takes the
kind's first entry. Each entry keeps the TLS options and extra headers of the provider it
came from (GigaChat needs its CA bundle), and gets one pooled client, made on first use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator_server.config.providers import KINDS, HttpProviderBase, ProviderConfig
from orchestrator_server.config.validate_key import ValidateKeyConfig
from orchestrator_server.domain.urls import BadUrl, BaseUrl, parse_base_url
from orchestrator_server.providers.http.client import HttpClient, TlsOptions
from orchestrator_server.validation.base import Target

# Each kind's public endpoint (wire-format reference §1.1, §2.1, §3, §4, §5, §6), from the
# registry. For GigaChat the checked URL is the OAuth host's, not the API's.
OFFICIAL: dict[str, str] = {
    kind.name: kind.key_check_url for kind in KINDS if kind.key_check_url is not None
}
MAX_CONNECTIONS = 10
DEFAULT_TLS = TlsOptions()


class NotAllowed(Exception):
    """The base URL is unusable or not on the allow-list; the text is safe to show."""


@dataclass(frozen=True, slots=True)
class Entry:
    base: BaseUrl
    tls: TlsOptions = DEFAULT_TLS
    headers: tuple[tuple[str, str], ...] = ()
    api_version: str | None = None


def _from_provider(provider: ProviderConfig) -> tuple[str, Entry] | None:
    if not isinstance(provider, HttpProviderBase) or provider.kind not in OFFICIAL:
        return None  # kinds ValidateKey does not check over HTTP (mock, azure-openai)
    url = provider.key_check_url() or OFFICIAL[provider.kind]
    version = provider.key_check_version()
    try:
        base = parse_base_url(url)
    except BadUrl:
        return None  # a provider URL with a query or the like: not a base to allow
    entry = Entry(
        base,
        TlsOptions(verify=provider.verify_ssl, ca_bundle=provider.ca_bundle),
        tuple(sorted(provider.headers.items())),
        version,
    )
    return provider.kind, entry


def build_entries(
    config: ValidateKeyConfig, providers: Iterable[ProviderConfig]
) -> dict[str, list[Entry]]:
    entries: dict[str, list[Entry]] = {kind: [] for kind in OFFICIAL}
    if config.configured_endpoints:
        for provider in providers:
            found = _from_provider(provider)
            if found is not None:
                entries[found[0]].append(found[1])
    for extra_kind, urls in config.allowed_base_urls.items():
        entries[extra_kind].extend(Entry(parse_base_url(url)) for url in urls)
    if config.official_endpoints:
        for kind, url in OFFICIAL.items():
            entries[kind].append(Entry(parse_base_url(url)))
    return entries


class AllowList:
    def __init__(self, entries: dict[str, list[Entry]]) -> None:
        self._entries = entries
        self._clients: dict[Entry, HttpClient] = {}

    @classmethod
    def from_config(
        cls, config: ValidateKeyConfig, providers: Sequence[ProviderConfig]
    ) -> AllowList:
        return cls(build_entries(config, providers))

    def entries(self, kind: str) -> list[Entry]:
        return list(self._entries.get(kind, ()))

    def resolve(self, kind: str, base_url: str) -> Target:
        """The target for a request's base_url (empty: the kind's default), or NotAllowed."""
        entries = self._entries.get(kind, [])
        if not base_url:
            if not entries:
                raise NotAllowed(f"no endpoint is configured for {kind}; none can be checked")
            entry, base = entries[0], entries[0].base
        else:
            try:
                base = parse_base_url(base_url)
            except BadUrl as exc:
                raise NotAllowed(str(exc)) from None
            match = next((e for e in entries if e.base.covers(base)), None)
            if match is None:
                raise NotAllowed(
                    "is not on this server's allow-list for "
                    f"{kind} (validate_key.allowed_base_urls)"
                )
            entry = match
        return Target(str(base), self._client(entry), entry.api_version)

    def _client(self, entry: Entry) -> HttpClient:
        client = self._clients.get(entry)
        if client is None:
            client = HttpClient(
                f"validate-key {entry.base.host}",
                tls=entry.tls,
                max_connections=MAX_CONNECTIONS,
                headers=dict(entry.headers),
            )
            self._clients[entry] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
