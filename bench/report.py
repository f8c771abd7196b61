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
OTHER_CPU_WARN = 0.1  # cores of other processes' CPU that make a measurement suspect


@dataclass(frozen=True)
class Budget:
    """A line of DESIGN.md section 8: in scenarios matching `pattern`, the gateway/floor
    ratio of `metric` must be at least (or at most) `limit`; or, when `added`, the gateway's
    figure minus the floor's must be at most `limit` (in the metric's unit)."""

    pattern: str
    metric: str
    limit: float
    at_least: bool
    label: str
    added: bool = False

    def text(self) -> str:
        if self.added:
            return f"{self.label}: gateway - floor ≤ {self.limit:g} ms"
        return f"{self.label}: gateway/floor {'≥' if self.at_least else '≤'} {self.limit:g}"

    def value(self, figures: dict[str, Figures]) -> float:
        if self.added:
            gateway, floor = figures[GATEWAY], figures[FLOOR]
            return float(getattr(gateway, self.metric) - getattr(floor, self.metric))
        return ratio(figures, self.metric)

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.limit if self.at_least else value <= self.limit


BUDGETS = [
    Budget(r"generate-c64", "calls_per_s", 0.75, at_least=True, label="Generate throughput"),
    Budget(r"generate-\d+rps", "p50_ms", 1.3, at_least=False, label="Generate p50"),
    Budget(r"generate-\d+rps", "p99_ms", 1.5, at_least=False, label="Generate p99"),
    Budget(r"stream-c\d+", "messages_per_s", 0.75, at_least=True, label="stream messages/s"),
]
TTFT_BUDGET = Budget(
    r"stream-\d+rps", "ttft_p99_ms", 1.0, at_least=False, label="TTFT p99", added=True
)
UPSTREAM_BUDGETS = [*BUDGETS, TTFT_BUDGET]


def budgets_for(scenario: str, budgets: list[Budget]) -> list[Budget]:
    return [b for b in budgets if re.fullmatch(b.pattern, scenario)]


def ratio(figures: dict[str, Figures], metric: str) -> float:
    floor, gateway = getattr(figures[FLOOR], metric), getattr(figures[GATEWAY], metric)
    return gateway / floor if floor else math.nan


RATIO_METRICS = ("calls_per_s", "messages_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_call")


def ratios(by_scenario: dict[str, dict[str, Figures]]) -> dict[str, dict[str, float]]:
    return {
        name: {m: ratio(figs, m) for m in RATIO_METRICS}
        for name, figs in by_scenario.items()
        if FLOOR in figs and GATEWAY in figs
    }


def budget_results(
    by_scenario: dict[str, dict[str, Figures]], budgets: list[Budget]
) -> list[dict[str, Any]]:
    out = []
    for scenario, figs in by_scenario.items():
        if FLOOR not in figs or GATEWAY not in figs:
            continue
        for budget in budgets_for(scenario, budgets):
            value = budget.value(figs)
            other = max(figs[FLOOR].other_cpu_share, figs[GATEWAY].other_cpu_share)
            out.append(
                {
                    "scenario": scenario,
                    "budget": budget.text(),
                    "metric": budget.metric,
                    "floor": getattr(figs[FLOOR], budget.metric),
                    "gateway": getattr(figs[GATEWAY], budget.metric),
                    "kind": "added" if budget.added else "ratio",
                    "value": value,
                    "limit": budget.limit,
                    "met": budget.met(value),
                    "disturbed": other > OTHER_CPU_WARN,  # other processes' CPU meanwhile
                }
            )
    return out


def write_json(
    path: Path,
    meta: dict[str, Any],
    by_scenario: dict[str, dict[str, Figures]],
    per_round: list[Figures],
    budgets: list[Budget],
) -> None:
    document = {
        "meta": meta,
        "results": [asdict(f) for figs in by_scenario.values() for f in figs.values()],
        "ratios_gateway_over_floor": ratios(by_scenario),
        "budgets": budget_results(by_scenario, budgets),
        "rounds": [asdict(f) for f in per_round],
    }
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _any(by_scenario: dict[str, dict[str, Figures]], metric: str) -> bool:
    return any(
        not math.isnan(getattr(f, metric)) for figs in by_scenario.values() for f in figs.values()
    )


def figures_table(by_scenario: dict[str, dict[str, Figures]]) -> list[str]:
    ttft, upstream = _any(by_scenario, "ttft_p99_ms"), _any(by_scenario, "upstream_cpu_share")
    columns = ["scenario", "target", "tool", "calls/s", "messages/s", "p50 ms", "p99 ms"]
    columns += ["max ms"] + (["TTFT p50 ms", "TTFT p99 ms"] if ttft else [])
    columns += ["server CPU µs/call"]
    columns += ["upstream CPU µs/call", "upstream CPU (cores)"] if upstream else []
    columns += ["failed", "replies checked"]
    lines = [_row(columns), _row(["---"] * len(columns))]
    for figs in by_scenario.values():
        for f in figs.values():
            cells = [f.scenario, f.target, f.tool, _fmt(f.calls_per_s, 0)]
            cells += [_fmt(f.messages_per_s, 0), _fmt(f.p50_ms, 3), _fmt(f.p99_ms, 3)]
            cells += [_fmt(f.max_ms, 1)]
            cells += [_fmt(f.ttft_p50_ms, 3), _fmt(f.ttft_p99_ms, 3)] if ttft else []
            cells += [_fmt(f.server_cpu_us_per_call, 0)]
            if upstream:
                cells += [_fmt(f.upstream_cpu_us_per_call, 0), _fmt(f.upstream_cpu_share, 2)]
            cells += [str(f.failed), "yes" if f.replies_verified else "**NO**"]
            lines.append(_row(cells))
    return lines


def ratio_table(by_scenario: dict[str, dict[str, Figures]]) -> list[str]:
    ttft = _any(by_scenario, "ttft_p99_ms")
    columns = ["scenario", "calls/s", "messages/s", "p50", "p99", "server CPU/call"]
    columns += ["TTFT p99 added (ms)"] if ttft else []
    lines = [_row(columns), _row(["---"] * len(columns))]
    for name, values in ratios(by_scenario).items():
        cells = [name, *(_fmt(values[m]) for m in RATIO_METRICS)]
        if ttft:
            figs = by_scenario[name]
            cells.append(_fmt(figs[GATEWAY].ttft_p99_ms - figs[FLOOR].ttft_p99_ms, 3))
        lines.append(_row(cells))
    return lines


def budget_table(by_scenario: dict[str, dict[str, Figures]], budgets: list[Budget]) -> list[str]:
    results = budget_results(by_scenario, budgets)
    if not results:
        return ["No scenario of this run has a budget."]
    columns = ["scenario", "budget", "floor", "gateway", "gateway/floor or added", "verdict"]
    lines = [_row(columns), _row(["---"] * len(columns))]
    for r in results:
        digits = 0 if r["metric"].endswith("_per_s") else 3
        value = _fmt(r["value"], 3) + (" ms" if r["kind"] == "added" else "")
        verdict = "met" if r["met"] else "**missed**"
        if r["disturbed"]:
            verdict += " (disturbed by other processes: see notes)"
        cells = [r["scenario"], r["budget"], _fmt(r["floor"], digits), _fmt(r["gateway"], digits)]
        lines.append(_row([*cells, value, verdict]))
    met = sum(r["met"] for r in results)
    return [*lines, "", f"{met} of {len(results)} budgets met."]


def write_markdown(
    path: Path,
    meta: dict[str, Any],
    by_scenario: dict[str, dict[str, Figures]],
    notes: list[str],
    *,
    title: str,
    about: list[str],
    budgets: list[Budget],
    budget_heading: str,
) -> str:
    header = [
        f"# {title}",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['nproc']} CPUs ({meta['cpu']}), Python {meta['python']}, "
        f"grpcio {meta['grpcio']}; load average at start "
        + ", ".join(f"{v:g}" for v in meta.get("load_average_at_start", [])),
        f"- gateway: commit {meta['gateway_revision']}",
        f"- load generator: {meta['tool']}",
        f"- runs: {meta['rounds']} round(s) of {meta['duration_s']:g} s per scenario and target "
        f"after {meta['warmup_s']:g} s of warm-up, floor and gateway alternating",
        f"- command: `{meta['command']}`",
        "",
        *about,
        "Closed loop `cN`: N calls always in flight over min(N, 4) HTTP/2 connections; `Nrps`: "
        "open loop at N calls/s; `stream-cN`: N GenerateStream calls in flight.",
        "",
        "## Figures",
        "",
    ]
    body = figures_table(by_scenario)
    body += ["", "## Gateway / floor", "", *ratio_table(by_scenario), ""]
    body += [f"## {budget_heading}", "", *budget_table(by_scenario, budgets), ""]
    if notes:
        body += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    text = "\n".join(header + body)
    path.write_text(text)
    return text
