"""The merged scrape: every worker's samples with its `worker` label, each family once."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from orchestrator_server.workers.exposition import merge, supervisor_families

WORKER = """\
# HELP llm_requests_total Provider calls by outcome status
# TYPE llm_requests_total counter
llm_requests_total{model="m",provider="a",status="success"} {calls}
# HELP llm_request_latency_seconds Latency of one provider call
# TYPE llm_request_latency_seconds histogram
llm_request_latency_seconds_bucket{le="0.5",model="m",provider="a"} {calls}
llm_request_latency_seconds_bucket{le="+Inf",model="m",provider="a"} {calls}
llm_request_latency_seconds_count{model="m",provider="a"} {calls}
llm_request_latency_seconds_sum{model="m",provider="a"} 0.25
# HELP llm_provider_health 1 healthy, 0.5 degraded, 0 unhealthy
# TYPE llm_provider_health gauge
llm_provider_health{provider="a b \\"quoted\\" {braces}"} 1.0
"""


def worker(calls: int) -> str:
    return WORKER.replace("{calls}", f"{calls}.0")


def families(text: bytes) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text.decode())
    }


def test_every_sample_gets_its_worker_label_and_each_family_appears_once() -> None:
    text = merge({"0": worker(3), "1": worker(4)})
    assert text.decode().count("# TYPE llm_requests_total counter") == 1
    merged = families(text)
    assert merged["llm_requests"] == [
        (
            "llm_requests_total",
            {"model": "m", "provider": "a", "status": "success", "worker": "0"},
            3,
        ),
        (
            "llm_requests_total",
            {"model": "m", "provider": "a", "status": "success", "worker": "1"},
            4,
        ),
    ]
    counts = [
        (labels["worker"], value)
        for name, labels, value in merged["llm_request_latency_seconds"]
        if name == "llm_request_latency_seconds_count"
    ]
    assert counts == [("0", 3.0), ("1", 4.0)]
    assert len(merged["llm_request_latency_seconds"]) == 8  # 2 buckets, count and sum, twice
    # A label value with quotes and braces survives the round trip.
    assert merged["llm_provider_health"][0][1]["provider"] == 'a b "quoted" {braces}'


def test_the_supervisor_says_how_many_workers_answered_and_restarted() -> None:
    own = supervisor_families(2, {"0": True, "1": False}, {"0": 0, "1": 3})
    merged = families(merge({"0": worker(1)}, own))
    assert merged["orchestrator_workers"] == [("orchestrator_workers", {}, 2.0)]
    assert merged["orchestrator_worker_up"] == [
        ("orchestrator_worker_up", {"worker": "0"}, 1.0),
        ("orchestrator_worker_up", {"worker": "1"}, 0.0),
    ]
    assert merged["orchestrator_worker_restarts"] == [
        ("orchestrator_worker_restarts_total", {"worker": "0"}, 0.0),
        ("orchestrator_worker_restarts_total", {"worker": "1"}, 3.0),
    ]
    # A worker that did not answer has no series in this scrape.
    assert {labels["worker"] for _, labels, _ in merged["llm_requests"]} == {"0"}
