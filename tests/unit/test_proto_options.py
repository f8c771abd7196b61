"""The language options of every proto file, pinned: buf's breaking check leaves them out
(they were set once, where none had been, which buf counts as a change), so this test is
what fails if one of them changes later and breaks generated Go, Java or C# code."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p.stem for p in (ROOT / "protos/orchestrator/v1").glob("*.proto"))
EXPECTED = {
    "go_package": "llm-orchestrator/gen/go/orchestrator/v1;orchestratorv1",
    "java_package": "com.llmorchestrator.v1",
    "java_multiple_files": True,
    "csharp_namespace": "Orchestrator.V1",
}


def test_every_file_is_covered() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("name", FILES)
def test_language_options(name: str) -> None:
    module = importlib.import_module(f"orchestrator.v1.{name}_pb2")
    options = module.DESCRIPTOR.GetOptions()
    for option, value in EXPECTED.items():
        assert getattr(options, option) == value, (name, option)
    outer = "".join(part.capitalize() for part in name.split("_")) + "Proto"
    assert options.java_outer_classname == outer
