"""The Python client is a distribution of its own (clients/python, llm-orchestrator-client):
its wheel holds the stubs, the client, the CLI and the LangChain module and nothing of the
server, its requirements (followed through every installed distribution's metadata) reach
no faiss, numpy or langchain-community, and installed alone it calls a real server.

A real `pip install` of the client with its dependencies would need the package index; the
test builds and installs the wheel offline (`--no-deps`) and follows the declared
requirements instead, which is what pip would resolve."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import make_config, mock_provider, running

ROOT = Path(__file__).resolve().parents[3]
HEAVY = {"faiss-cpu", "numpy", "langchain-community", "torch", "llm-orchestrator-server"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(out), str(ROOT / "clients" / "python")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = out.glob("llm_orchestrator_client-*.whl")
    return built


def requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [Requirement(line.split(":", 1)[1]) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]  # fmt: skip


def closure(roots: list[Requirement]) -> set[str]:
    """Every distribution these requirements pull, from the installed ones' metadata."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(req.name) or []:
            nested = Requirement(line)
            wanted = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if nested.marker is None or any(nested.marker.evaluate(env) for env in wanted):
                todo.append(nested)
    return seen


def test_the_wheel_holds_the_client_and_the_stubs_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    for expected in (
        "orchestrator_client/cli.py",
        "orchestrator_client/langchain.py",
        "orchestrator_client/py.typed",
        "orchestrator/v1/generate_pb2.py",
        "orchestrator/v1/generate_pb2.pyi",
        "orchestrator/v1/orchestrator_service_pb2_grpc.py",
        "orchestrator/py.typed",
    ):
        assert expected in files
    assert not any(f.startswith("orchestrator_server") for f in files)
    with zipfile.ZipFile(wheel) as archive:
        entry = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "orchestrator-client = orchestrator_client.cli:main" in archive.read(entry).decode()


def test_its_requirements_pull_nothing_heavy(wheel: Path) -> None:
    declared = requirements(wheel)
    base = [r for r in declared if r.marker is None]
    langchain = [
        r for r in declared if r.marker is not None and r.marker.evaluate({"extra": "langchain"})
    ]
    assert {norm(r.name) for r in base} == {"grpcio", "googleapis-common-protos", "protobuf"}
    assert {norm(r.name) for r in langchain} == {"langchain-core", "pydantic"}
    pulled = closure(base + langchain)
    assert not pulled & HEAVY, pulled & HEAVY
    # ... while the server's own requirements do pull them, and the client.
    server = closure([Requirement("llm-orchestrator-server")])
    assert {"faiss-cpu", "numpy", "llm-orchestrator-client"} <= server


async def test_installed_alone_it_calls_a_real_server(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    install = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        "--no-deps", "--no-index", str(wheel),
    )  # fmt: skip
    assert await install.wait() == 0
    # The fresh venv has the client and nothing else; its dependencies come from this
    # interpreter's site-packages, added after it (no .pth files run, so not the server's
    # editable install either). What gets imported is then checked.
    site = next(p for p in sys.path if p.endswith("site-packages"))
    script = (
        "import sys, runpy\n"
        f"sys.path.append({site!r})\n"
        "sys.argv = ['orchestrator-client', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('orchestrator_client', run_name='__main__')\n"
        "finally:\n"
        "    heavy = {'faiss', 'numpy', 'orchestrator_server', 'langchain_community'}\n"
        "    loaded = heavy & {m.split('.')[0] for m in sys.modules}\n"
        "    print('loaded:', sorted(loaded), file=sys.stderr)\n"
        "    print('from:', sys.modules['orchestrator_client'].__file__, file=sys.stderr)\n"
    )
    config = make_config(mock_provider("alpha", reply="hello from the client alone"))
    async with running(config) as server:
        process = await asyncio.create_subprocess_exec(
            python, "-c", script, "generate", "hi", "--address", server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert out.decode() == "hello from the client alone\n"
    assert "loaded: []" in err.decode()
    assert f"from: {target}/lib/" in err.decode()  # the venv's copy, not the checkout
