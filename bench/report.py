"""Results as JSON and as a short Markdown page, with the gateway/floor ratios and budgets."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scenarios import Figures

FLOOR, GATEWAY = "floor", "gateway"


@dataclass(frozen=True)
class Budget:
    """A line of DESIGN.md section 8: in scenarios matching `pattern`, the gateway/floor
    ratio of `metric` must be at least (or at most) `limit`."""

    pattern: str
    metric: str
    limit: float
    at_least: bool

    def text(self) -> str:
        return f"{self.metric} ratio {'≥' if self.at_least else '≤'} {self.limit:g}"

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.at_least else ratio <= self.limit


BUDGETS = [
    Budget(r"generate-c64", "calls_per_s", 0.75, at_least=True),
    Budget(r"generate-\d+rps", "p50_ms", 1.3, at_least=False),
    Budget(r"generate-\d+rps", "p99_ms", 1.5, at_least=False),
    Budget(r"stream-c\d+", "messages_per_s", 0.75, at_least=True),
]


def budgets_for(scenario: str) -> list[Budget]:
    return [b for b in BUDGETS if re.fullmatch(b.pattern, scenario)]


def ratio(figures: dict[str, Figures], metric: str) -> float:
    floor, gateway = getattr(figures[FLOOR], metric), getattr(figures[GATEWAY], metric)
    return gateway / floor if floor else math.nan


def ratios(by_scenario: dict[str, dict[str, Figures]]) -> dict[str, dict[str, float]]:
    metrics = ("calls_per_s", "messages_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_call")
    return {
        name: {m: ratio(figs, m) for m in metrics}
        for name, figs in by_scenario.items()
        if FLOOR in figs and GATEWAY in figs
    }


def budget_results(ratio_table: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    out = []
    for scenario, values in ratio_table.items():
        for budget in budgets_for(scenario):
            value = values[budget.metric]
            out.append(
                {
                    "scenario": scenario,
                    "budget": budget.text(),
                    "ratio": value,
                    "met": budget.met(value),
                }
            )
    return out


def write_json(
    path: Path,
    meta: dict[str, Any],
    by_scenario: dict[str, dict[str, Figures]],
    per_round: list[Figures],
) -> None:
    table = ratios(by_scenario)
    document = {
        "meta": meta,
        "results": [asdict(f) for figs in by_scenario.values() for f in figs.values()],
        "ratios_gateway_over_floor": table,
        "budgets": budget_results(table),
        "rounds": [asdict(f) for f in per_round],
    }
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


FIGURE_COLUMNS = [
    "scenario",
    "target",
    "tool",
    "calls/s",
    "messages/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "server CPU µs/call",
    "failed",
    "replies checked",
]


def figure_cells(f: Figures) -> list[str]:
    return [
        f.scenario,
        f.target,
        f.tool,
        _fmt(f.calls_per_s, 0),
        _fmt(f.messages_per_s, 0),
        _fmt(f.p50_ms, 3),
        _fmt(f.p99_ms, 3),
        _fmt(f.max_ms, 1),
        _fmt(f.server_cpu_us_per_call, 0),
        str(f.failed),
        "yes" if f.replies_verified else "**NO**",
    ]


def figures_table(by_scenario: dict[str, dict[str, Figures]]) -> list[str]:
    lines = [_row(FIGURE_COLUMNS), _row(["---"] * len(FIGURE_COLUMNS))]
    for figs in by_scenario.values():
        lines += [_row(figure_cells(f)) for f in figs.values()]
    return lines


def ratio_table(table: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        _row(["scenario", "calls/s", "messages/s", "p50", "p99", "CPU/call", "budget (DESIGN §8)"]),
        _row(["---"] * 7),
    ]
    for name, values in table.items():
        checks = [
            f"{b.text()}: {'met' if b.met(values[b.metric]) else '**missed**'}"
            for b in budgets_for(name)
        ]
        cells = [_fmt(values[m]) for m in ("calls_per_s", "messages_per_s", "p50_ms", "p99_ms")]
        cpu = _fmt(values["server_cpu_us_per_call"])
        lines.append(_row([name, *cells, cpu, "; ".join(checks) or "-"]))
    return lines


def write_markdown(
    path: Path, meta: dict[str, Any], by_scenario: dict[str, dict[str, Figures]], notes: list[str]
) -> str:
    header = [
        "# Generate benchmark: gateway vs floor",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['nproc']} CPUs ({meta['cpu']}), Python {meta['python']}, "
        f"grpcio {meta['grpcio']}",
        f"- gateway: commit {meta['gateway_revision']}",
        f"- load generator: {meta['tool']}",
        f"- runs: {meta['rounds']} round(s) of {meta['duration_s']:g} s per scenario and target "
        f"after {meta['warmup_s']:g} s of warm-up, floor and gateway alternating",
        f"- command: `{meta['command']}`",
        "",
        "Gateway: `orchestrator serve` with one zero-latency mock provider (first-available).",
        "Floor: bench/floor_server.py, a bare grpc.aio server on uvloop returning fixed replies.",
        "Closed loop `cN`: N calls always in flight over min(N, 4) HTTP/2 connections; `Nrps`: "
        "open loop at N calls/s; `stream-cN`: N GenerateStream calls in flight.",
        "",
        "## Figures",
        "",
    ]
    body = figures_table(by_scenario)
    body += ["", "## Gateway / floor", "", *ratio_table(ratios(by_scenario)), ""]
    if notes:
        body += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    text = "\n".join(header + body)
    path.write_text(text)
    return text
