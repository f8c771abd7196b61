"""Which files an index build reads, and the names its passage ids start with."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator_server.retrieval.build import BuildError, attach_headings, source_files


def names(*paths: Path) -> list[str]:
    return [name for _, name in source_files(list(paths))]


def test_one_folder_names_are_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "a.md").write_text("a")
    (tmp_path / "guide" / "sub").mkdir()
    (tmp_path / "guide" / "sub" / "b.txt").write_text("b")
    (tmp_path / "guide" / ".hidden.md").write_text("h")
    (tmp_path / "guide" / "image.png").write_bytes(b"\x89PNG")
    assert names(tmp_path / "guide") == ["a.md", "sub/b.txt"]


def test_several_paths_are_named_from_their_common_parent(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("root")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("docs index")
    assert names(tmp_path / "README.md", tmp_path / "docs") == ["README.md", "docs/README.md"]


def test_the_same_file_twice_is_read_once_and_a_missing_path_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("a")
    assert names(tmp_path / "a.md", tmp_path) == ["a.md"]
    with pytest.raises(BuildError, match="no such file"):
        names(tmp_path / "missing")


def test_a_heading_alone_joins_the_passage_after_it() -> None:
    pieces = ["# Title\n\nintro", "## Section", "long body", "## Last"]
    assert attach_headings(pieces) == ["# Title\n\nintro", "## Section\n\nlong body", "## Last"]
