"""The LangChain chat model and retriever against real servers. The sync API blocks, so
tests run it in a thread, off the loop that serves the in-process server."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import struct_pb2
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from orchestrator.v1 import retrieve_pb2
from orchestrator_client import InvalidArgument, Unavailable
from orchestrator_client.langchain import ChatOrchestrator, OrchestratorRetriever
from tests.helpers import demo_collection, make_config, mock_provider, running
from tests.scripted import scripted_server

CONFIG = make_config(
    mock_provider("alpha", "m-1", reply="echo: {prompt}", words_per_chunk=1),
    mock_provider("beta", "m-2", reply="beta says {prompt}"),
)


async def test_invoke_maps_messages_params_and_usage() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target, model="alpha/m-1", max_tokens=3)
        messages = [
            SystemMessage("be brief"),
            HumanMessage("first"),
            AIMessage("ok"),
            HumanMessage("one two three four"),
        ]
        reply = await asyncio.to_thread(llm.invoke, messages)
        llm.close()
    assert reply.content == "echo: one two"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 3
    assert reply.response_metadata["provider"] == "alpha"
    assert reply.response_metadata["finish_reason"] == "length"


async def test_ainvoke_with_bound_overrides() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target)
        reply = await llm.bind(provider="beta").ainvoke("hello")
        await llm.aclose()
    assert reply.content == "beta says hello"
    assert reply.response_metadata["model_name"] == "m-2"


async def test_stream_yields_chunks_and_usage_at_the_end() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target, model="alpha/m-1")
        chunks = await asyncio.to_thread(lambda: list(llm.stream("a b c")))
        llm.close()
    texts = [c.content for c in chunks if c.content]
    assert texts == ["echo:", " a", " b", " c"]
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == "echo: a b c"
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == 4
    assert total.response_metadata["finish_reason"] == "stop"


async def test_astream() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target, model="alpha/m-1")
        texts = [chunk.content async for chunk in llm.astream([HumanMessage("x y")])]
        await llm.aclose()
    assert "".join(str(t) for t in texts) == "echo: x y"


async def test_batch_and_abatch() -> None:
    async with running(CONFIG) as server:
        llm = ChatOrchestrator(target=server.target, model="alpha/m-1")
        replies = await asyncio.to_thread(llm.batch, ["one", "two", "three"])
        areplies = await llm.abatch(["four", "five"])
        await llm.aclose()
        llm.close()
    assert [r.content for r in replies] == ["echo: one", "echo: two", "echo: three"]
    assert [r.content for r in areplies] == ["echo: four", "echo: five"]


async def test_errors_surface_as_client_exceptions() -> None:
    config = make_config(mock_provider("down", mode="unhealthy"))
    async with running(config) as server:
        llm = ChatOrchestrator(target=server.target)
        with pytest.raises(Unavailable):
            await llm.ainvoke("hi")
        with pytest.raises(InvalidArgument):
            await llm.ainvoke("hi", temperature=7.0)
        with pytest.raises(TypeError, match="unsupported"):
            await llm.ainvoke("hi", frequency_penalty=1.0)
        await llm.aclose()


async def test_retriever_sync_and_async() -> None:
    document = retrieve_pb2.RetrievedDocument(
        id="guide.md#3",
        content="Fallback happens before the first delta.",
        score=0.77,
        metadata=struct_pb2.Struct(fields={"source": struct_pb2.Value(string_value="guide.md")}),
    )
    reply = retrieve_pb2.RetrieveResponse(documents=[document])
    async with scripted_server() as server:
        server.script("Retrieve", reply, reply)
        retriever = OrchestratorRetriever(
            target=server.target, collection="docs", k=2, search_type="mmr", filter={"lang": "en"}
        )
        docs = await asyncio.to_thread(retriever.invoke, "when does fallback stop?")
        adocs = await retriever.ainvoke("again")
        await retriever.aclose()
        retriever.close()
    assert [d.page_content for d in docs] == ["Fallback happens before the first delta."]
    assert docs[0].id == "guide.md#3"
    assert docs[0].metadata == {"source": "guide.md", "score": pytest.approx(0.77)}
    assert adocs[0].id == docs[0].id
    first = server.calls[0].request
    assert (first.collection, first.query, first.k) == ("docs", "when does fallback stop?", 2)
    assert first.search_type == retrieve_pb2.SEARCH_TYPE_MMR
    assert first.filter["lang"] == "en"


async def test_retriever_on_the_real_server_demo_collection() -> None:
    demo = make_config(
        mock_provider("alpha"),
        retrieval={"collections": [demo_collection()]},
    )
    async with running(demo) as server:
        retriever = OrchestratorRetriever(
            target=server.target, collection="docs", k=3, filter={"type": "md"}
        )
        docs = await retriever.ainvoke("circuit breaker half-open probe")
        sync_docs = await asyncio.to_thread(retriever.invoke, "circuit breaker half-open probe")
        await retriever.aclose()
        retriever.close()
    assert len(docs) == 3
    assert [d.id for d in sync_docs] == [d.id for d in docs]
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert all(d.metadata["type"] == "md" for d in docs)
    assert any("circuit" in d.page_content.lower() for d in docs)
