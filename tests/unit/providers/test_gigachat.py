"""GigaChat parsing and token handling, without a network: token reply forms, the OAuth
error table, stream events, client-side stop sequences and the token cache."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import pytest

from orchestrator_server.config.providers import GigaChatProviderConfig
from orchestrator_server.domain.chat import ChatMessage, ChatRequest, GenerationParams, Role
from orchestrator_server.domain.chat import FinishReason as Finish
from orchestrator_server.domain.errors import ErrorKind, ProviderError
from orchestrator_server.providers.gigachat import (
    GigaChatProvider,
    StopCutter,
    parse_chunk,
    stop_index,
)
from orchestrator_server.providers.gigachat_auth import (
    DEFAULT_LIFETIME_S,
    TokenManager,
    expiry_seconds,
    oauth_error,
    parse_token,
)
from orchestrator_server.providers.http.client import HttpClient, HttpReply
from orchestrator_server.providers.registry import spec_of

NOW = 1_706_026_000.0
KEY = "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtMDEyMzQ1Njc4OQ=="


# --- token replies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1706026848841, 1706026848.841),  # milliseconds, as documented (13 digits)
        (1679471442, 1679471442.0),  # seconds, as in one docs example (10 digits)
        ("1706026848841", 1706026848.841),
        (1706026848.5, 1706026848.5),
        (None, NOW + DEFAULT_LIFETIME_S),
        (True, NOW + DEFAULT_LIFETIME_S),
        ("soon", NOW + DEFAULT_LIFETIME_S),
        (-5, NOW + DEFAULT_LIFETIME_S),
        (float("nan"), NOW + DEFAULT_LIFETIME_S),
        ({"at": 1}, NOW + DEFAULT_LIFETIME_S),
    ],
)
def test_expiry_in_ms_or_seconds(value: Any, expected: float) -> None:
    assert expiry_seconds(value, NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "t1", "expires_at": 1706026848841},
        {"tok": "t1", "exp": 1706026848841},
        {"tok": "t1", "exp": 1706026848},
    ],
)
def test_both_token_reply_shapes(body: dict[str, Any]) -> None:
    token, expires = parse_token(body, NOW)
    assert token == "t1"
    assert int(expires) == 1706026848


@pytest.mark.parametrize(
    "body", [None, [], "token", {"expires_at": 1}, {"access_token": ""}, {"tok": 5}]
)
def test_token_reply_without_a_token_is_malformed(body: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_token(body, NOW)
    assert caught.value.kind == ErrorKind.MALFORMED_RESPONSE


# --- OAuth error table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"code": 7, "message": "scope from db not fully includes consumed scope"}, "perm"),
        (401, {"code": 7, "message": "scope from db not fully includes consumed scope"}, "perm"),
        (401, {"code": 6, "message": "credentials doesn't match db data"}, "auth"),
        (400, {"code": 4, "message": "Can't decode 'Authorization' header"}, "auth"),
        (400, {"code": 5, "message": "scope is empty"}, "auth"),
        (400, "Bad Request", "auth"),  # e.g. a missing RqUID: our fault, not the caller's
        (429, {"code": 429, "message": "Too many requests"}, "rate"),
        (500, {"code": 500, "message": "Internal Server Error"}, "down"),
        (502, "<html>Bad Gateway</html>", "down"),
    ],
)
def test_oauth_errors_by_code(status: int, body: Any, kind: str) -> None:
    kinds = {
        "perm": ErrorKind.PERMISSION,
        "auth": ErrorKind.AUTH,
        "rate": ErrorKind.RATE_LIMITED,
        "down": ErrorKind.UNAVAILABLE,
    }
    error = oauth_error(status, {}, body)
    assert error.kind == kinds[kind]
    assert not error.policy.retry or kind in ("rate", "down")
    assert error.http_status == status


def test_oauth_rate_limit_reports_retry_after() -> None:
    error = oauth_error(429, {"retry-after": "7"}, {"code": 429, "message": "slow down"})
    assert error.retry_after == 7.0


def test_oauth_error_never_echoes_the_key() -> None:
    body = {"code": 6, "message": f"credentials {KEY} doesn't match db data"}
    error = oauth_error(401, {}, body)
    assert KEY not in error.message
    assert "code 6" in error.message


# --- stream events -------------------------------------------------------------------------


def test_chunk_text_finish_usage_and_model() -> None:
    chunk = parse_chunk(
        {
            "choices": [{"delta": {"content": ""}, "index": 0, "finish_reason": "stop"}],
            "created": 1,
            "model": "GigaChat:2.0.28.2",
            "object": "chat.completion",
            "usage": {
                "prompt_tokens": 17,
                "completion_tokens": 25,
                "total_tokens": 40,
                "precached_prompt_tokens": 2,
            },
        }
    )
    assert (chunk.text, chunk.finish_reason, chunk.model) == ("", Finish.STOP, "GigaChat:2.0.28.2")
    assert chunk.usage is not None
    assert (chunk.usage.prompt_tokens, chunk.usage.completion_tokens) == (17, 25)
    assert chunk.usage.total_tokens == 40  # the billable figure, kept as reported


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("length", Finish.LENGTH),
        ("blacklist", Finish.CONTENT_FILTER),
        ("function_call", Finish.TOOL_CALL),
        ("error", Finish.OTHER),
        ("something-new", Finish.OTHER),
    ],
)
def test_finish_reasons(reason: str, finish: Finish) -> None:
    chunk = parse_chunk({"choices": [{"delta": {"content": "x"}, "finish_reason": reason}]})
    assert chunk.finish_reason == finish


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        ({"status": 500, "message": "Internal Server Error"}, ErrorKind.UNAVAILABLE),
        ({"status": 429, "message": "Too many requests"}, ErrorKind.RATE_LIMITED),
        ({"error": {"message": "boom"}}, ErrorKind.UNAVAILABLE),
        ({"error": "boom", "choices": []}, ErrorKind.UNAVAILABLE),
    ],
)
def test_in_stream_error_frames_raise(frame: dict[str, Any], kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_chunk(frame)
    assert caught.value.kind == kind


def test_odd_chunks_are_tolerated() -> None:
    assert parse_chunk({"choices": []}).text == ""
    assert parse_chunk({"choices": [{"delta": None}]}).text == ""
    assert parse_chunk({"choices": [{"delta": {"content": "a"}}], "usage": "n/a"}).usage is None


# --- stop sequences ------------------------------------------------------------------------


def test_stop_index_is_the_earliest_of_several() -> None:
    assert stop_index("one two three", ("three", "two")) == 4
    assert stop_index("one", ("x",)) is None
    assert stop_index("one", ()) is None


def feed_all(cutter: StopCutter, pieces: list[str]) -> tuple[list[str], bool]:
    out: list[str] = []
    for piece in pieces:
        text, stopped = cutter.feed(piece)
        out.append(text)
        if stopped:
            return out, True
    out.append(cutter.flush())
    return out, False


def test_stop_sequence_split_across_pieces() -> None:
    out, stopped = feed_all(StopCutter((" END",)), ["alpha", " beta E", "N", "D gamma"])
    assert stopped
    assert "".join(out) == "alpha beta"
    assert out[0] == "alpha"  # nothing held back that cannot start a stop sequence


def test_a_false_start_is_released() -> None:
    cutter = StopCutter(("END",))
    assert cutter.feed("the EN") == ("the ", False)
    assert cutter.feed("vy") == ("ENvy", False)
    assert cutter.flush() == ""


def test_held_text_is_flushed_at_the_end() -> None:
    cutter = StopCutter(("STOP",))
    assert cutter.feed("almost ST") == ("almost ", False)
    assert cutter.flush() == "ST"


def test_without_stop_sequences_text_passes_through() -> None:
    assert StopCutter(()).feed("anything END") == ("anything END", False)


# --- request body --------------------------------------------------------------------------


def config() -> GigaChatProviderConfig:
    return GigaChatProviderConfig.model_validate(
        {"name": "g", "kind": "gigachat", "model": "GigaChat", "api_key_env": "K"}
    )


def test_body_maps_params_and_drops_stop_and_seed() -> None:
    cfg = config()
    adapter = GigaChatProvider(spec_of(cfg), cfg, KEY)
    request = ChatRequest(
        (ChatMessage(Role.SYSTEM, "sys"), ChatMessage(Role.USER, "hi")),
        GenerationParams(
            temperature=0.0, top_p=0.5, max_tokens=9, stop=("x",), repetition_penalty=1.2, seed=3
        ),
        model="GigaChat-2-Max",
    )
    assert adapter.body(request, stream=True) == {
        "model": "GigaChat-2-Max",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "temperature": 0.001,
        "top_p": 0.5,
        "max_tokens": 9,
        "repetition_penalty": 1.2,
        "stream": True,
    }


# --- token cache ---------------------------------------------------------------------------


class FakeOAuth:
    """Stands in for HttpClient.request: answers token requests from a script."""

    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.calls: list[Mapping[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def request(self, method: str, url: str, **kw: Any) -> HttpReply:
        self.calls.append(kw["headers"])
        await self.gate.wait()
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        import json

        return HttpReply(status, {}, json.dumps(body).encode())


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def manager(oauth: FakeOAuth, clock: Clock, margin: float = 60.0) -> TokenManager:
    return TokenManager(
        cast(HttpClient, oauth),
        auth_url="http://oauth.invalid/api/v2/oauth",
        key=KEY,
        scope="GIGACHAT_API_PERS",
        margin=margin,
        clock=clock,
    )


def ok(token: str, lifetime: float) -> tuple[int, Any]:
    return 200, {"access_token": token, "expires_at": int((NOW + lifetime) * 1000)}


async def test_token_is_cached_until_the_margin() -> None:
    oauth, clock = FakeOAuth(ok("t1", 1800), ok("t2", 3600)), Clock()
    tokens = manager(oauth, clock)
    assert await tokens.token(timeout=1) == "t1"
    clock.now = NOW + 1739
    assert await tokens.token(timeout=1) == "t1"
    clock.now = NOW + 1741
    assert await tokens.token(timeout=1) == "t2"
    assert len(oauth.calls) == 2
    assert oauth.calls[0]["RqUID"] != oauth.calls[1]["RqUID"]


async def test_a_lifetime_shorter_than_the_margin_is_still_reused() -> None:
    oauth, clock = FakeOAuth(ok("t1", 10), ok("t2", 10)), Clock()
    tokens = manager(oauth, clock, margin=60)
    assert await tokens.token(timeout=1) == "t1"
    assert await tokens.token(timeout=1) == "t1"
    assert len(oauth.calls) == 1


async def test_invalidate_drops_only_the_rejected_token() -> None:
    oauth, clock = FakeOAuth(ok("t1", 1800), ok("t2", 1800)), Clock()
    tokens = manager(oauth, clock)
    await tokens.token(timeout=1)
    tokens.invalidate("t1")
    assert await tokens.token(timeout=1) == "t2"
    tokens.invalidate("t1")  # a late 401 for the old token keeps the new one
    assert await tokens.token(timeout=1) == "t2"
    assert len(oauth.calls) == 2


async def test_concurrent_cold_start_fetches_once() -> None:
    oauth, clock = FakeOAuth(ok("t1", 1800)), Clock()
    oauth.gate.clear()
    tokens = manager(oauth, clock)
    waiting = [asyncio.create_task(tokens.token(timeout=1)) for _ in range(20)]
    await asyncio.sleep(0)  # every task runs up to the lock or the held fetch
    oauth.gate.set()
    assert set(await asyncio.gather(*waiting)) == {"t1"}
    assert len(oauth.calls) == 1


async def test_waiters_share_a_failed_fetch() -> None:
    scope_error = (400, {"code": 7, "message": "scope from db not fully includes consumed scope"})
    oauth, clock = FakeOAuth(scope_error), Clock()
    oauth.gate.clear()
    tokens = manager(oauth, clock)
    waiting = [asyncio.create_task(tokens.token(timeout=1)) for _ in range(5)]
    await asyncio.sleep(0)
    oauth.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ProviderError) and r.kind == ErrorKind.PERMISSION for r in results)
    assert len(oauth.calls) == 1
    with pytest.raises(ProviderError):  # a later call asks again
        await tokens.token(timeout=1)
    assert len(oauth.calls) == 2


async def test_a_cancelled_fetch_lets_the_next_waiter_fetch() -> None:
    oauth, clock = FakeOAuth(ok("t1", 1800)), Clock()
    oauth.gate.clear()
    tokens = manager(oauth, clock)
    first = asyncio.create_task(tokens.token(timeout=1))
    second = asyncio.create_task(tokens.token(timeout=1))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    oauth.gate.set()
    assert await second == "t1"
    assert len(oauth.calls) == 2


async def test_no_key_is_an_auth_error_without_a_request() -> None:
    oauth, clock = FakeOAuth(ok("t1", 1800)), Clock()
    tokens = TokenManager(
        cast(HttpClient, oauth), auth_url="x", key=None, scope="s", margin=1, clock=clock
    )
    with pytest.raises(ProviderError) as caught:
        await tokens.token(timeout=1)
    assert caught.value.kind == ErrorKind.AUTH
    assert oauth.calls == []
