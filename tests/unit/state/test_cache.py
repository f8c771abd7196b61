"""The response cache in process: what makes two requests the same, what is never cached,
the LRU bound and TTL, and replies replayed as the stream they were."""

from __future__ import annotations

import pytest

from orchestrator_server.config.state import CacheConfig
from orchestrator_server.domain.chat import (
    ChatMessage,
    ChatRequest,
    Completion,
    FinishReason,
    GenerationParams,
    RequestMeta,
    Role,
    Usage,
)
from orchestrator_server.state import CachedResponse, ResponseCache, cache_scope
from orchestrator_server.state.cached import UnreadableEntry
from orchestrator_server.state.memory import MemoryCacheStore
from tests.state_support import FakeClock


def ask(text: str = "hi", **params: object) -> ChatRequest:
    return ChatRequest((ChatMessage(Role.USER, text),), GenerationParams(**params))  # type: ignore[arg-type]


def cache(clock: FakeClock | None = None, **config: object) -> ResponseCache:
    settings = CacheConfig.model_validate({"enabled": True, **config})
    store = MemoryCacheStore(settings.max_entries, clock or FakeClock())
    return ResponseCache(settings, store)


def reply(text: str = "hello world") -> CachedResponse:
    return CachedResponse.of(Completion(text, "m", Usage.of(2, 2)), "p")


def key(c: ResponseCache, request: ChatRequest, **where: str) -> str:
    found = c.key(request, **{"provider": "p", "model": "m", "scope": "*", **where})
    assert found is not None
    return found


def test_equal_requests_share_a_key_whoever_sends_them() -> None:
    c = cache()
    plain = ask()
    traced = ChatRequest(plain.messages, plain.params, request_id="r-1", meta=RequestMeta("t"))
    assert key(c, plain) == key(c, traced)


@pytest.mark.parametrize(
    ("request_", "where"),
    [
        (ask("hi!"), {}),
        (ask(max_tokens=10), {}),
        (ask(temperature=0.0), {}),
        (ask(stop=("x",)), {}),
        (ChatRequest((ChatMessage(Role.SYSTEM, "hi"),)), {}),
        (ask(), {"provider": "q"}),
        (ask(), {"model": "n"}),
        (ask(), {"scope": cache_scope(["openai/*"])}),
    ],
)
def test_any_difference_is_another_key(request_: ChatRequest, where: dict[str, str]) -> None:
    c = cache()
    assert key(c, request_, **where) != key(c, ask())


def test_scopes_depend_on_the_set_of_allowed_models_only() -> None:
    assert cache_scope(["b/*", "a/x", "b/*"]) == cache_scope(["a/x", "b/*"])
    assert cache_scope(["a/x"]) != cache_scope(["a/x", "b/*"])
    assert cache_scope(None) == "*"


def test_sampled_requests_are_not_cached_unless_configured() -> None:
    c = cache()
    assert c.key(ask(temperature=0.7), provider="p", model="m", scope="*") is None
    assert c.stats.uncacheable == 1
    assert c.key(ask(temperature=0.0), provider="p", model="m", scope="*") is not None
    assert c.key(ask(), provider="p", model="m", scope="*") is not None  # unset: cacheable
    sampled = cache(cache_nonzero_temperature=True)
    assert sampled.key(ask(temperature=0.7), provider="p", model="m", scope="*") is not None


def test_a_disabled_cache_has_no_keys() -> None:
    assert cache(enabled=False).key(ask(), provider="p", model="m", scope="*") is None


async def test_hits_expire_with_the_ttl() -> None:
    clock = FakeClock()
    c = cache(clock, ttl=10)
    k = key(c, ask())
    assert await c.get(k) is None
    await c.put(k, reply())
    clock.advance(9.9)
    assert await c.get(k) == reply()
    clock.advance(0.1)
    assert await c.get(k) is None
    assert (c.stats.hits, c.stats.misses, c.stats.stores) == (1, 2, 1)


async def test_the_least_recently_used_entry_goes_first() -> None:
    c = cache(max_entries=2)
    a, b, d = (key(c, ask(t)) for t in "abd")
    await c.put(a, reply("a"))
    await c.put(b, reply("b"))
    assert await c.get(a) is not None  # a is now the most recent
    await c.put(d, reply("d"))
    assert await c.get(b) is None
    assert await c.get(a) is not None
    assert await c.get(d) is not None


async def test_a_stream_is_stored_only_when_it_completes_and_replays_its_pieces() -> None:
    c = cache()
    k = key(c, ask())
    broken = c.recorder(k)
    for piece in ("Hel", "lo"):
        broken.add(piece)
    # the stream broke: complete() is never called, so nothing is stored
    assert await c.get(k) is None

    recorder = c.recorder(k)
    for piece in ("Hel", "", "lo, ", "world"):
        recorder.add(piece)
    usage = Usage.of(3, 4)
    await recorder.complete(
        provider="p", model="m-1", finish_reason=FinishReason.LENGTH, usage=usage
    )
    await recorder.complete(provider="x", model="x", finish_reason=FinishReason.STOP, usage=usage)
    found = await c.get(k)
    assert found is not None
    assert list(found.pieces()) == ["Hel", "lo, ", "world"]
    assert (found.text, found.model, found.finish_reason) == (
        "Hello, world",
        "m-1",
        FinishReason.LENGTH,
    )
    assert c.stats.stores == 1


def test_a_unary_reply_replays_as_word_groups() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    pieces = list(reply(text).pieces())
    assert len(pieces) > 1
    assert "".join(pieces) == text
    assert all(pieces)


def test_the_stored_form_round_trips_and_refuses_what_it_cannot_read() -> None:
    stored = CachedResponse(
        "tool time", FinishReason.TOOL_CALL, Usage.of(5, 6), "p", "m", (4, 5), {"calls": [1]}
    )
    assert CachedResponse.from_bytes(stored.to_bytes()) == stored
    for bad in (b"not json", b'{"v": 2}', b'{"v": 1}', b'{"v": 1, "finish": "?"}'):
        with pytest.raises(UnreadableEntry):
            CachedResponse.from_bytes(bad)
