"""`orchestrator config schema | defaults`: generated from the models, so the schema accepts
the configurations the server accepts (and rejects what it rejects), and the defaults parse
back to the defaults."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from orchestrator_server.config import Config, default_config, parse_config
from orchestrator_server.config.describe import REQUIRED, defaults_text, provider_defaults, schema
from orchestrator_server.config.providers import PROVIDER_KINDS

ROOT = Path(__file__).resolve().parents[2]


class Yaml12(yaml.SafeLoader):
    """YAML as an editor's schema check reads it (1.2: `2024-10-21` is a string, not a date;
    the server accepts both)."""


Yaml12.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12)


def config_examples() -> list[tuple[str, str]]:
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            if re.search(r"^providers:", block, re.M):
                found.append((page.name, block))
    return found


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def test_the_embedded_config_fits_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    text = (ROOT / "server/orchestrator_server/config/default.yaml").read_text()
    validator.validate(load(text))


@pytest.mark.parametrize(("page", "block"), config_examples())
def test_every_docs_example_fits_the_schema(
    validator: jsonschema.Draft202012Validator, page: str, block: str
) -> None:
    parse_config(block, page)  # valid for the server ...
    validator.validate(load(block))  # ... and for the schema


@pytest.mark.parametrize(
    "data",
    [
        {"providers": [{"name": "m", "kind": "mock", "model": "m"}], "servr": {}},
        {"providers": [{"name": "m", "kind": "nope", "model": "m"}]},
        {"providers": [{"name": "m", "kind": "openai", "model": "m", "api_key": "sk-x"}]},
        {"providers": []},
    ],
)
def test_the_schema_rejects_what_the_server_rejects(
    validator: jsonschema.Draft202012Validator, data: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(data)


def test_the_defaults_parse_back_to_the_defaults() -> None:
    provider = {"name": "m", "kind": "mock", "model": "m"}
    text = defaults_text() + yaml.safe_dump({"providers": [provider]})
    assert parse_config(text) == Config.model_validate({"providers": [provider]})
    assert set(yaml.safe_load(defaults_text())) == set(Config.model_fields) - {"providers"} | {
        "aliases"
    }


@pytest.mark.parametrize("kind", PROVIDER_KINDS)
def test_a_provider_entry_of_each_kind(kind: str) -> None:
    entry = provider_defaults(kind)
    assert list(entry)[:2] == ["name", "kind"]
    filled = {k: ("x" if v == REQUIRED else v) for k, v in entry.items()}
    if "api_key_env" in filled:
        filled["api_key_env"] = "SOME_KEY"
    if kind == "azure-openai":
        filled["base_url"] = "https://res.openai.azure.com"
    Config.model_validate({"providers": [filled]})


def test_the_commands_print_them() -> None:
    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator_server", "config", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    printed = json.loads(run("schema"))
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"telemetry", "retrieval", "reload", "listing", "validate_key"} <= set(
        printed["properties"]
    )
    assert yaml.safe_load(run("defaults"))["listing"] == {
        "ttl": 300.0,
        "error_ttl": 15.0,
        "timeout": 10.0,
    }
    entry = yaml.safe_load(run("defaults", "--provider", "gigachat"))["providers"][0]
    assert entry["scope"] == "GIGACHAT_API_PERS"
    assert default_config().providers  # the embedded config still loads beside them
