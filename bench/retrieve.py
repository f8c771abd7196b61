"""Benchmarks Retrieve; writes bench/results/retrieve.{json,md}.

    .venv/bin/python bench/retrieve.py [--queries 2000] [--skip-large] [--large-types ivf,hnsw]

1. Through gRPC: a gateway process serving a 1,000-passage, 384-dimension flat collection
   (the seed library's setup), queried by a grpc.aio client in this process at 10 and 100
   concurrent queries: p50/p99 over `--queries` calls, QPS, and the seed's own figure, the
   slowest query of a burst of 10 (or 100) sent at once (median over bursts). With the hashing
   embedder, and with the local MiniLM model when the local-embeddings extra is installed.
2. In-process: an approximate index (IVF, HNSW) of 1,000,000 random unit vectors of 384
   dimensions: build time, memory (RSS growth), p50/p99 of the store's search (the code path
   Retrieve runs in its pool), and recall@10 against the exact (flat) index. The vectors lie
   around a random 24-dimensional subspace, as real embeddings do (see random_vectors).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import yaml

import h2load_load
import servers
from loadspec import LoadSpec, connections_for
from orchestrator.v1 import orchestrator_service_pb2_grpc, retrieve_pb2
from orchestrator_server.config.retrieval import ChunkingConfig, IndexOptions
from orchestrator_server.retrieval.build import build_index
from orchestrator_server.retrieval.embedders.base import Embedder
from orchestrator_server.retrieval.embedders.hashing import HashingEmbedder
from orchestrator_server.retrieval.store import Store, StoredDocument
from orchestrator_server.retrieval.types import RetrieveQuery
from workload import Rpc, grpc_frame

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DIMENSION = 384
PASSAGES = 1000
LATENT = 24
SEED_SLOWEST = {10: 4.01, 100: 13.40}  # ms, the seed library's figures (random embeddings)
VOCABULARY = (
    "gateway provider model stream token latency index vector search passage query cluster "
    "router fallback retry deadline budget metric trace health circuit breaker embedding "
    "document chunk filter score relevance diversity batch thread pool event loop memory "
    "recall build manifest config key secret quota rate limit error status contract client"
)
WORDS = VOCABULARY.split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- 1. Retrieve through gRPC ----------------------------------------------------------


async def build_collection(folder: Path, embedder: Embedder) -> Path:
    rng = random.Random(1)
    sources = folder / "sources"
    sources.mkdir(parents=True)
    lines = [json.dumps({"id": f"p{i}", "text": text(rng, 60)}) for i in range(PASSAGES)]
    (sources / "passages.jsonl").write_text("\n".join(lines) + "\n")
    out = folder / "index"
    await build_index(
        name="bench",
        sources=[sources],
        embedder=embedder,
        options=IndexOptions(),
        chunking=ChunkingConfig(size=2000, overlap=0),
        out=out,
    )
    return out


async def closed_loop(stub: Any, concurrency: int, total: int) -> dict[str, float]:
    rng = random.Random(concurrency)
    queries = [text(rng, 6) for _ in range(total)]
    latencies: list[float] = []
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < total:
            query = queries[position]
            position += 1
            started = time.perf_counter()
            reply = await stub.Retrieve(
                retrieve_pb2.RetrieveRequest(collection="bench", query=query, k=4)
            )
            latencies.append(time.perf_counter() - started)
            assert len(reply.documents) == 4

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "queries": len(latencies),
        "qps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def h2load_closed_loop(address: str, concurrency: int, duration: float) -> dict[str, float]:
    """Closed loop from h2load (its own process, in C: it leaves the cores to the server).
    One query text, sent over and over; nothing is cached, so each call does all the work."""
    message = retrieve_pb2.RetrieveRequest(collection="bench", query="vector index recall", k=4)
    rpc = Rpc(
        "retrieve",
        "/orchestrator.v1.OrchestratorService/Retrieve",
        grpc_frame(message.SerializeToString()),
        streaming=False,
    )
    connections = next(
        c for c in range(connections_for(concurrency), 0, -1) if concurrency % c == 0
    )
    spec = LoadSpec(rpc, concurrency, connections, duration)
    result = h2load_load.run(spec, address)
    latencies = [us / 1000 for us in result.latencies_us]
    if result.failed or not latencies:
        raise RuntimeError(f"h2load: {result.failed} failed calls")
    return {
        "queries": result.ok,
        "qps": result.ok / result.elapsed_s,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


async def bursts(stub: Any, size: int, count: int) -> float:
    """The seed's measure: `size` queries sent at once; the slowest one, median of bursts."""
    rng = random.Random(size)
    slowest: list[float] = []
    for _ in range(count):

        async def one(query: str) -> float:
            started = time.perf_counter()
            await stub.Retrieve(retrieve_pb2.RetrieveRequest(collection="bench", query=query, k=4))
            return time.perf_counter() - started

        times = await asyncio.gather(*(one(text(rng, 6)) for _ in range(size)))
        slowest.append(max(times))
    return statistics.median(slowest) * 1000


async def grpc_suite(name: str, embedder_config: dict[str, Any], embedder: Embedder,
                     queries: int, work: Path) -> dict[str, Any]:  # fmt: skip
    folder = work / name
    started = time.perf_counter()
    index = await build_collection(folder, embedder)
    build_s = time.perf_counter() - started
    await embedder.aclose()
    address = servers.free_address()
    config = {
        "server": {"address": address},
        "providers": [{"name": "m", "kind": "mock", "model": "m"}],
        "logging": {"level": "WARNING"},
        "retrieval": {
            "collections": [{"name": "bench", "path": str(index), "embedder": embedder_config}]
        },
    }
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "orchestrator_server", "serve", "--config", str(config_path)]
    result: dict[str, Any] = {"embedder": name, "build_s": build_s}
    with servers.running(name, command, address, folder / "server.log") as server:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = orchestrator_service_pb2_grpc.OrchestratorServiceStub(channel)
            result["warmup"] = await closed_loop(stub, 10, 200)
            for concurrency in (10, 100):
                before = server.cpu_seconds()
                if h2load_load.available():
                    duration = max(3.0, queries / (qps_guess(result) or 300))
                    figures = h2load_closed_loop(address, concurrency, duration)
                    figures["load"] = "h2load"
                else:
                    figures = await closed_loop(stub, concurrency, queries)
                    figures["load"] = "grpc.aio"
                figures["server_cpu_ms_per_query"] = (
                    (server.cpu_seconds() - before) * 1000 / figures["queries"]
                )
                figures["slowest_of_burst_ms"] = await bursts(stub, concurrency, 20)
                result[f"c{concurrency}"] = figures
                print(f"  {name} c{concurrency}: {figures}", flush=True)
    return result


def qps_guess(result: dict[str, Any]) -> float:
    return float(result["warmup"]["qps"])


# --- 2. An approximate index of a million vectors ---------------------------------------


def random_vectors(size: int, sample: int) -> tuple[Any, Any]:
    """Unit vectors drawn around a random 24-dimensional subspace (real embeddings have a
    low intrinsic dimension; i.i.d. 384-dimensional noise has no neighbours worth finding:
    all points are nearly equally far apart). Queries are held-out points of the same kind."""
    rng = np.random.default_rng(7)
    basis = rng.standard_normal((LATENT, DIMENSION), dtype=np.float32)

    def draw(n: int) -> Any:
        out = rng.standard_normal((n, LATENT), dtype=np.float32) @ basis
        out += 0.5 * rng.standard_normal((n, DIMENSION), dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out)

    return draw(size), draw(sample)


def large_suite(kind: str, size: int, sample: int) -> dict[str, Any]:
    vectors, queries = random_vectors(size, sample)

    import faiss

    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    del exact

    documents = [StoredDocument(f"v{i}", "", {}) for i in range(size)]
    options = IndexOptions(type=kind, hnsw_m=16, ef_construction=80, ef_search=64, nprobe=32)  # type: ignore[arg-type]
    before = rss_mb()
    started = time.perf_counter()
    store = Store.build(vectors, documents, options)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    latencies, hits = [], 0
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        found = store.search(q, RetrieveQuery(collection="x", query="q", k=10), None)
        latencies.append(time.perf_counter() - t)
        hits += len({int(p.id[1:]) for p in found} & set(want.tolist()))
    result = {
        "index": kind,
        "vectors": size,
        "params": {"hnsw_m": 16, "ef_construction": 80, "ef_search": 64}
        if kind == "hnsw"
        else {"nlist": int(store.index.nlist), "nprobe": 32},
        "build_s": build_s,
        "rss_growth_mb": memory,
        "vectors_mb": vectors.nbytes / 1e6,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "recall_at_10": hits / (10 * sample),
        "queries": sample,
    }
    print(f"  {kind} 1M: {result}", flush=True)
    return result


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Retrieve benchmark",
        "",
        f"{results['when']} on {results['machine']}. `make bench-retrieve` reruns it.",
        "",
        "## Through gRPC: 1,000 passages, 384 dimensions, flat index, k = 4",
        "",
        "A gateway process serves the collection; h2load (in C, its own process) keeps 10 or",
        "100 queries in flight for p50/p99 and QPS (at least `--queries` calls); a grpc.aio",
        "client sends bursts of 10 or 100 queries at once for the slowest of a burst, the",
        "figure the seed library reported. The seed measured the slowest of a burst of",
        "10 concurrent queries at 4.01 ms and of 100 at 13.40 ms, with random embeddings",
        "(no model).",
        "",
        "| embedder | in flight | queries | QPS | p50 ms | p99 ms | slowest of burst ms "
        "(seed) | server CPU ms/query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for suite in results["grpc"]:
        for c in (10, 100):
            f = suite[f"c{c}"]
            lines.append(
                f"| {suite['embedder']} | {c} | {f['queries']} | {f['qps']:.0f} | "
                f"{f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['slowest_of_burst_ms']:.2f} "
                f"({SEED_SLOWEST[c]:.2f}) | {f['server_cpu_ms_per_query']:.2f} |"
            )
    if results["large"]:
        lines += [
            "",
            f"## An approximate index of {results['large'][0]['vectors']:,} random vectors, "
            "384 dimensions",
            "",
            "Built and searched in-process through the store Retrieve uses (single queries,",
            "k = 10); recall@10 against the exact flat index. The vectors lie around a random",
            "24-dimensional subspace plus noise, as real embeddings have a low intrinsic",
            "dimension (i.i.d. 384-dimensional noise has no neighbours worth finding). The raw",
            f"vectors alone take {results['large'][0]['vectors_mb']:.0f} MB.",
            "",
            "| index | params | build s | RSS growth MB | p50 ms | p99 ms | recall@10 |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results["large"]:
            params = ", ".join(f"{k} {v}" for k, v in r["params"].items())
            lines.append(
                f"| {r['index']} | {params} | {r['build_s']:.0f} | {r['rss_growth_mb']:.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall_at_10']:.3f} |"
            )
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "grpc": [],
        "large": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-retrieve-") as tmp:
        work = Path(tmp)
        suites: list[tuple[str, dict[str, Any], Any]] = [
            ("hashing", {"kind": "hashing", "dimension": DIMENSION}, HashingEmbedder(DIMENSION))
        ]
        try:
            from orchestrator_server.retrieval.embedders.local import LocalEmbedder

            suites.append(("MiniLM (local)", {"kind": "local"}, LocalEmbedder()))
        except ImportError as exc:
            print(f"  MiniLM skipped: {exc}", flush=True)
        for name, config, embedder in suites:
            results["grpc"].append(await grpc_suite(name, config, embedder, args.queries, work))
    if not args.skip_large:
        for kind in args.large_types.split(","):
            results["large"].append(large_suite(kind, args.vectors, args.recall_queries))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Retrieve benchmark")
    parser.add_argument("--queries", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--skip-large", action="store_true", help="leave out the 1M index")
    parser.add_argument("--large-types", default="ivf,hnsw")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--recall-queries", type=int, default=1000)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retrieve.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "retrieve.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
