"""The configuration examples in the README and docs/providers.md are valid configurations."""

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
