"""Where ValidateKey may send a key: per kind, the base URLs of the configured providers,
the operator's extra ones and the official public endpoints, in that order. A request names
one of them, or a path below one (same scheme, host and port); an empty base_url takes the
kind's first entry. Each entry keeps the TLS options and extra headers of the provider it
came from (GigaChat needs its CA bundle).

The clients live in a ClientPool apart from the list, which a reload replaces: one pooled
client per entry, made on first use (its TLS context built off the event loop), kept while
the entry stays on the list, closed once a reload dropped it and no check still uses it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator_server.config.providers import KINDS, HttpProviderBase, ProviderConfig
from orchestrator_server.config.validate_key import ValidateKeyConfig
from orchestrator_server.domain.urls import BadUrl, BaseUrl, parse_base_url
from orchestrator_server.providers.http.client import HttpClient
from orchestrator_server.providers.http.tls import DEFAULT_TLS, TlsOptions
from orchestrator_server.providers.http.tls import prepare as prepare_tls

# Each kind's public endpoint (wire-format reference §1.1, §2.1, §3, §4, §5, §6), from the
# registry. For GigaChat the checked URL is the OAuth host's, not the API's.
OFFICIAL: dict[str, str] = {
    kind.name: kind.key_check_url for kind in KINDS if kind.key_check_url is not None
}
MAX_CONNECTIONS = 10


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
        TlsOptions.of(provider),
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

    @classmethod
    def from_config(
        cls, config: ValidateKeyConfig, providers: Sequence[ProviderConfig]
    ) -> AllowList:
        return cls(build_entries(config, providers))

    def entries(self, kind: str) -> list[Entry]:
        return list(self._entries.get(kind, ()))

    def all_entries(self) -> set[Entry]:
        return {entry for entries in self._entries.values() for entry in entries}

    def resolve(self, kind: str, base_url: str) -> tuple[Entry, BaseUrl]:
        """The entry for a request's base_url (empty: the kind's default) and the URL to
        check at, or NotAllowed."""
        entries = self._entries.get(kind, [])
        if not base_url:
            if not entries:
                raise NotAllowed(f"no endpoint is configured for {kind}; none can be checked")
            return entries[0], entries[0].base
        try:
            base = parse_base_url(base_url)
        except BadUrl as exc:
            raise NotAllowed(str(exc)) from None
        match = next((e for e in entries if e.base.covers(base)), None)
        if match is None:
            raise NotAllowed(
                f"is not on this server's allow-list for {kind} (validate_key.allowed_base_urls)"
            )
        return match, base


class ClientPool:
    """One pooled HttpClient per allow-list entry, shared by the lists a reload swaps in."""

    def __init__(self) -> None:
        self._clients: dict[Entry, HttpClient] = {}
        self._users: dict[Entry, int] = {}
        self._wanted: set[Entry] | None = None  # the current list's entries; None: all
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def open_clients(self) -> int:
        return len(self._clients)

    async def lease(self, entry: Entry) -> HttpClient:
        """The entry's client, for one check; give it back with `release`."""
        client = self._clients.get(entry)
        if client is None:
            await prepare_tls([entry.tls])  # off the loop: about 25 ms of CPU on a miss
            client = self._clients.get(entry)  # another check may have made it meanwhile
            if client is None:
                client = self._clients[entry] = HttpClient(
                    f"validate-key {entry.base.host}",
                    tls=entry.tls,
                    max_connections=MAX_CONNECTIONS,
                    headers=dict(entry.headers),
                )
        self._users[entry] = self._users.get(entry, 0) + 1
        return client

    def release(self, entry: Entry) -> None:
        users = self._users[entry] - 1
        if users:
            self._users[entry] = users
            return
        del self._users[entry]
        if self._wanted is not None and entry not in self._wanted:
            self._close(entry)

    def retain(self, entries: set[Entry]) -> None:
        """After a reload: closes the clients of entries the new list dropped, at once or
        when their last check ends."""
        self._wanted = entries
        for entry in [e for e in self._clients if e not in entries and e not in self._users]:
            self._close(entry)

    def _close(self, entry: Entry) -> None:
        client = self._clients.pop(entry, None)
        if client is not None:
            task = asyncio.ensure_future(client.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
