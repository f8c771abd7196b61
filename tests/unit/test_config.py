"""Configuration: the embedded default, and errors that name the key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_server.app import App, StartupError
from orchestrator_server.cli import main
from orchestrator_server.config import ConfigError, default_config, load_config, parse_config

VALID = """
providers:
  - name: local
    kind: mock
    model: m
"""
OLLAMA = """
providers:
  - name: llama
    kind: ollama
    model: llama3.2
"""


def test_embedded_default_has_mock_providers() -> None:
    config = default_config()
    assert len(config.providers) >= 2
    assert {p.kind for p in config.providers} == {"mock"}


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(VALID)
    assert config.router.strategy == "best-available"
    assert config.providers[0].timeout == 30.0
    assert config.server.limits.max_messages == 256


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("providers: []", "providers: List should have at least 1 item"),
        (VALID + "    timeout: -1\n", "providers[0].timeout: Input should be greater than 0"),
        (VALID + "    api_key: sk-123\n", "providers[0].api_key: Extra inputs are not permitted"),
        (
            OLLAMA + "    api_key_env: not-an-env-name\n",
            "providers[0].api_key_env: String should match",
        ),
        (VALID + "    mock: {mode: sideways}\n", "providers[0].mock.mode: Input should be"),
        (VALID + "router: {strategy: fastest}\n", "router.strategy: Input should be"),
        (VALID + "router: {health: {degraded_error_rate: 0.9}}\n", "router.health: Value error"),
        (VALID + "aliases: {fast: [ghost]}\n", "unknown provider 'ghost'"),
        (VALID + "  - {name: local, kind: mock, model: n}\n", "'local' is used twice"),
        ("providers: [\n", "line 2"),
        ("just a string", "the top level must be a mapping"),
        (VALID + "server: {address: nowhere}\n", "server.address: String should match"),
    ],
)
def test_errors_name_the_key_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(VALID + "    api_key: sk-secret-value\n")
    assert "sk-secret-value" not in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "absent.yaml")


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID + "    retries: 99\n")
    keyed = tmp_path / "keyed.yaml"
    keyed.write_text(OLLAMA + "    api_key_env: ORCHESTRATOR_TEST_SURELY_UNSET\n")
    run = [sys.executable, "-m", "orchestrator_server", "check-config"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "provider    local: mock m" in ok.stdout
    unset = subprocess.run([*run, str(keyed)], capture_output=True, text=True, check=False)
    assert unset.returncode == 1  # serve would refuse it: so does check-config
    assert (
        "providers[0].api_key_env: environment variable ORCHESTRATOR_TEST_SURELY_UNSET is not set"
    ) in unset.stderr
    assert "on_missing_key: disable" in unset.stderr
    failed = subprocess.run([*run, str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "providers[0].retries" in failed.stderr


async def test_check_config_agrees_with_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What check-config calls fatal stops the server with the same words (the StartupError
    `serve` prints); what it calls a warning (a key with on_missing_key: disable, an
    optional missing index) does not."""
    unset = "ORCHESTRATOR_TEST_SURELY_UNSET"
    entry = f"  - {{name: gone, kind: ollama, model: m, api_key_env: {unset}}}\n"

    def check(name: str, text: str) -> tuple[Path, int, str, str]:
        path = tmp_path / name
        path.write_text(text)
        code = main(["check-config", str(path)])
        out, err = capsys.readouterr()
        return path, code, out, err

    async def serve(path: Path) -> str:
        with pytest.raises(StartupError) as caught:
            app = App(load_config(path), config_path=path)
            await app.start()
        return str(caught.value)

    path, code, _, err = check("fail.yaml", VALID + entry)
    assert code == 1
    problem = f"providers[1].api_key_env: environment variable {unset} is not set"
    assert problem in err
    assert problem in await serve(path)

    path, code, _, err = check(
        "admin.yaml", VALID + "reload: {admin: {token_env: " + unset + "}}\n"
    )
    assert code == 1
    problem = f"reload.admin.token_env: environment variable {unset} is not set"
    assert problem in err
    assert problem in await serve(path)

    callers = f'auth: {{keys: [{{id: b, tenant: t, models: ["*"], key_env: {unset}}}]}}\n'
    path, code, _, err = check("auth.yaml", VALID + callers)
    assert code == 1
    problem = f"auth.keys[0].key_env: environment variable {unset} is not set"
    assert problem in err
    assert problem in await serve(path)

    missing = tmp_path / "no-such.crt"
    tls = f"server: {{tls: {{cert_file: {missing}, key_file: {missing}}}}}\n"
    path, code, _, err = check("tls.yaml", VALID + tls)
    assert code == 1
    problem = f"cannot read {missing}: No such file or directory"
    assert f"server.tls: {problem}" in err
    assert problem in await serve(path)

    index = "retrieval:\n  collections:\n    - {name: kb, path: ./kb, embedder: {kind: hashing}}\n"
    path, code, _, err = check("index.yaml", VALID + index)
    assert code == 1
    problem = f"no index at {tmp_path / 'kb'}"
    assert f"retrieval.collections[0].path: {problem}" in err
    assert problem in await serve(path)

    disabled = VALID + entry.replace("}", ", on_missing_key: disable}")
    optional = index.replace("}}", "}, required: false}")
    _, code, out, err = check("warn.yaml", disabled + optional)
    assert code == 0, err
    key_problem = f"providers[1].api_key_env: environment variable {unset} is not set"
    assert f"warning     {key_problem}: gone starts disabled (on_missing_key)" in out
    assert "(required: false, so it starts unavailable)" in out
