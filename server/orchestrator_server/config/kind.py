"""What one provider kind is to the gateway: the shape of a registry entry.

The entries themselves sit beside the configuration models, at the end of
config/providers.py (`KINDS`); every place that once spelled the kinds out reads them from
there: the configuration union, the provider registry, ValidateKey's kinds, validators,
allow-list and request rules, the proto enum both ways, the GenAI provider names, what the
kind supports beyond text chat (tools, structured output, images, embeddings: capability
routing and the Embed RPC) and the embedding endpoints retrieval can use. Prices are data,
kept in the dated table providers/prices.yaml, keyed by the same kind names. Adding a
provider means a configuration model, one entry, and its adapter module (plus, if
ValidateKey is to check its keys, a validator).

Code is named, not imported (`"module:attribute"`), so this floor imports nothing above it and
a deployment loads only the adapters it configures.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from orchestrator_server.domain.capabilities import NONE, Capabilities

# Optional ValidateKey request fields a kind may take.
SCOPE = "scope"
FOLDER_ID = "folder_id"
IAM_TOKEN = "iam_token"


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # the config `kind`
    config: type[Any]  # its configuration model (a ProviderBase)
    adapter: str  # "module:factory" in orchestrator_server.providers: factory(spec, config, key)
    proto: str  # its orchestrator.v1.ProviderKind value
    genai_name: str  # gen_ai.provider.name (the GenAI conventions' value where one exists)
    validator: str | None = None  # "module:factory" in orchestrator_server.validation
    key_check_url: str | None = None  # the public endpoint ValidateKey checks keys at
    key_fields: frozenset[str] = frozenset()  # optional ValidateKey fields it takes
    keyless: bool = False  # ValidateKey checks reachability; a key is optional
    # What the kind supports beyond text chat (a provider's `capabilities:` narrows or widens
    # it); `embeddings` also means an embedding endpoint retrieval can use.
    capabilities: Capabilities = NONE

    def load_adapter(self) -> Any:
        return load("orchestrator_server.providers", self.adapter)

    def load_validator(self) -> Any:
        """The kind's validator, or None when ValidateKey cannot check it."""
        if self.validator is None:
            return None
        return load("orchestrator_server.validation", self.validator)()


def load(package: str, reference: str) -> Any:
    """`package.module:attribute`, imported on use. Raises ModuleNotFoundError or
    AttributeError for a reference that names nothing."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(f"{package}.{module_name}")
    return getattr(module, attribute)
