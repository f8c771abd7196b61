"""The configuration example in docs/validate-key.md is a valid configuration."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator_server.config import Config
from tests.helpers import mock_provider
from tests.unit.test_docs import yaml_blocks

DOC = Path(__file__).resolve().parents[3] / "docs" / "validate-key.md"


def test_the_validate_key_example_is_valid() -> None:
    [block] = yaml_blocks(DOC)
    data = yaml.safe_load(block)
    config = Config.model_validate({"providers": [mock_provider("m")], **data})
    assert config.validate_key.allowed_base_urls["ollama"] == ["http://gpu-box:11434"]
    assert (config.validate_key.rate_limit.rate, config.validate_key.rate_limit.burst) == (2, 10)
