"""docs/observability.md's configuration is valid, and the sample Grafana dashboard queries
only metrics the gateway exports (names as docs/observability.md's table lists them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestrator_server.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "observability.md"


def documented_metrics() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))


def test_the_configuration_example_is_valid() -> None:
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert block is not None
    config = parse_config(block.group(1), str(DOC))
    assert config.telemetry.tracing.exporter == "otlp"
    assert config.telemetry.usage.webhook is not None


def test_the_dashboard_queries_documented_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/orchestrator-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", m)
        for e in exprs
        for m in re.findall(r"[a-z_]+(?=[{\[])", e)
    }
    used -= {"rate", "sum", "histogram_quantile", "by"}
    assert used
    assert used <= documented_metrics(), used - documented_metrics()
