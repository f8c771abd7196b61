"""The configuration examples in the README and docs/ are valid configurations, and the docs
index links every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestrator_server.config import Config, parse_config
from orchestrator_server.config.providers import PROVIDER_KINDS

ROOT = Path(__file__).resolve().parents[2]


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_readme_configuration_examples_are_valid() -> None:
    blocks = [b for b in yaml_blocks(ROOT / "README.md") if "providers:" in b]
    kinds = set()
    for block in blocks:
        kinds |= {p.kind for p in parse_config(block, "README.md").providers}
    assert kinds == set(PROVIDER_KINDS)  # every kind has an example


@pytest.mark.parametrize("block", yaml_blocks(ROOT / "docs" / "providers.md"))
def test_provider_examples_are_valid(block: str) -> None:
    entries = yaml.safe_load(block)
    Config.model_validate({"providers": entries})


def _config_blocks() -> list[tuple[str, str]]:
    return [
        (page.name, block)
        for page in sorted((ROOT / "docs").glob("*.md"))
        for block in yaml_blocks(page)
        if re.search(r"^providers:", block, flags=re.M)
    ]


@pytest.mark.parametrize(("page", "block"), _config_blocks())
def test_docs_configuration_examples_are_valid(page: str, block: str) -> None:
    parse_config(block, f"docs/{page}")


def test_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert pages <= linked


@pytest.mark.parametrize(
    "block",
    [b for b in yaml_blocks(ROOT / "docs" / "retrieval.md") if b.startswith("providers:")],
)
def test_retrieval_examples_are_valid(block: str) -> None:
    parse_config(block, "docs/retrieval.md")


def test_readme_retrieval_example_is_valid() -> None:
    (block,) = [b for b in yaml_blocks(ROOT / "README.md") if b.startswith("retrieval:")]
    data = yaml.safe_load(block)
    Config.model_validate({"providers": [{"name": "m", "kind": "mock", "model": "m"}], **data})
