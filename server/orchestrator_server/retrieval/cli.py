"""`orchestrator index build | info`: build a collection's index from documents, describe one.

orchestrator index build --collection docs --from ./handbook [--config FILE] [--out DIR]
orchestrator index info PATH
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from orchestrator_server.config import ConfigError, default_config, load_config


def add_index_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `index` to the CLI's subcommands; `run_index` handles it."""
    index = sub.add_parser("index", help="build and inspect retrieval indexes")
    commands = index.add_subparsers(dest="index_command", required=True)

    build = commands.add_parser("build", help="chunk, embed and index a folder of documents")
    build.add_argument("--collection", required=True, help="a collection of the config")
    build.add_argument(
        "--from",
        dest="sources",
        required=True,
        action="extend",
        nargs="+",
        type=Path,
        help="folders or files (.md, .txt, .jsonl); may repeat",
    )
    build.add_argument("--config", help="YAML config file (default: the embedded one)")
    build.add_argument("--out", type=Path, help="index folder (default: the collection's path)")
    build.add_argument("--batch-size", type=int, default=64, help="texts per embedding call")
    build.add_argument("--quiet", action="store_true", help="no progress bar")

    info = commands.add_parser("info", help="describe an index folder from its manifest")
    info.add_argument("path", help="index folder, or builtin:NAME")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")


def run_index(args: argparse.Namespace) -> int:
    if args.index_command == "build":
        return _build(args)
    return _info(args)


def _build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from orchestrator_server.config.retrieval import BUILTIN_PREFIX
    from orchestrator_server.providers.registry import ProviderSetupError
    from orchestrator_server.retrieval.build import BuildError, build_index
    from orchestrator_server.retrieval.collections import resolve_path
    from orchestrator_server.retrieval.embedders.factory import build_embedder

    try:
        config = default_config() if args.config is None else load_config(args.config)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    collections = config.retrieval.collections
    found = [(i, c) for i, c in enumerate(collections) if c.name == args.collection]
    if not found:
        names = ", ".join(c.name for c in collections) or "none"
        print(
            f"orchestrator: no collection named {args.collection!r} (configured: {names})",
            file=sys.stderr,
        )
        return 2
    i, collection = found[0]
    if args.out is None and collection.path.startswith(BUILTIN_PREFIX):
        print(
            f"orchestrator: {collection.path} is shipped with the package; give --out",
            file=sys.stderr,
        )
        return 2
    out = args.out or resolve_path(collection.path)

    async def build() -> None:
        where = f"retrieval.collections[{i}].embedder"
        embedder = build_embedder(collection.embedder, config.providers, None, where)
        bar = tqdm(unit="chunk", disable=True if args.quiet else None, file=sys.stderr)
        try:
            manifest = await build_index(
                name=collection.name,
                sources=args.sources,
                embedder=embedder,
                options=collection.index,
                chunking=collection.chunking,
                out=out,
                batch_size=args.batch_size,
                progress=bar.update,
                on_chunked=lambda n: setattr(bar, "total", n),
            )
        finally:
            bar.close()
            await embedder.aclose()
        print(
            f"{out}: {manifest.chunks} chunks from {manifest.documents} documents, "
            f"{manifest.index_type} index, {manifest.embedder.describe()}, "
            f"built in {manifest.build_seconds:.1f} s"
        )

    try:
        asyncio.run(build())
    except (BuildError, ProviderSetupError, ImportError) as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1
    return 0


def _info(args: argparse.Namespace) -> int:
    from orchestrator_server.retrieval.collections import resolve_path
    from orchestrator_server.retrieval.manifest import IndexLoadError, Manifest

    folder = resolve_path(args.path)
    try:
        manifest = Manifest.read(folder)
    except IndexLoadError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False))
        return 0
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    params = ", ".join(f"{k} {v}" for k, v in manifest.index_params.items())
    print(f"{folder}")
    print(f"  collection  {manifest.collection}")
    print(f"  embedder    {manifest.embedder.describe()}")
    print(
        f"  index       {manifest.index_type}{f' ({params})' if params else ''}, {manifest.metric}"
    )
    print(f"  passages    {manifest.chunks} chunks from {manifest.documents} documents")
    print(f"  built       {manifest.built_at} in {manifest.build_seconds:.1f} s")
    print(f"  on disk     {size / 1e6:.1f} MB")
    return 0
