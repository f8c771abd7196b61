"""Reading and validating configuration files, with errors that name the key path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from orchestrator_server.config.models import Config
from orchestrator_server.config.providers import PROVIDER_KINDS


class ConfigError(Exception):
    """An unusable configuration. Each line of `problems` starts with the key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in PROVIDER_KINDS and i and isinstance(loc[i - 1], int):
            continue  # pydantic's tag for the union member, not a key of the file
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            source, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    return config_from_data({} if data is None else data, source)


def config_from_data(data: object, source: str = "<config>") -> Config:
    """Validates parsed YAML (or an equivalent structure) into a Config."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["the top level must be a mapping"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _path(tuple(err["loc"])) or "(top level)"
            problems.append(f"{path}: {err['msg']}")
        raise ConfigError(source, problems) from None


def load_config(path: str | Path) -> Config:
    """A config file. Relative paths in it (collection index folders) are relative to the
    file's folder, as a reader of the file expects, whatever the working directory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read file ({exc.strerror})"]) from None
    config = parse_config(text, str(p))
    base = p.expanduser().absolute().parent
    return config.model_copy(update={"retrieval": config.retrieval.anchored(base)})


def default_config() -> Config:
    """The embedded configuration `orchestrator serve` uses when given none: mock providers."""
    text = resources.files("orchestrator_server.config").joinpath("default.yaml").read_text()
    return parse_config(text, "embedded default config")
