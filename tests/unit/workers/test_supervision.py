"""The supervisor's small rules: restart backoff, exit descriptions, `--workers auto`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator_server.cli import main
from orchestrator_server.workers.cores import available_cores, parse_workers
from orchestrator_server.workers.supervisor import BACKOFF_MAX_S, backoff, describe_exit


def test_backoff_doubles_from_half_a_second_up_to_its_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(50) == BACKOFF_MAX_S


def test_exits_are_described_by_status_or_signal() -> None:
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1), ("garbage", None)],
)
def test_auto_is_the_affinity_mask_capped_by_a_cgroup_quota(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert available_cores(path) == (affinity if expected is None else min(affinity, expected))
    assert available_cores(tmp_path / "absent") == affinity


def test_workers_is_a_count_or_auto() -> None:
    assert parse_workers("3") == 3
    assert parse_workers("auto") == available_cores()
    for bad in ("0", "257", "-1", "many"):
        with pytest.raises(ValueError, match=r"between 1 and 256|invalid literal"):
            parse_workers(bad)


def test_the_cli_refuses_a_bad_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--workers", "0"])
    assert exit_.value.code == 2
    assert "a number of workers from 1 to 256, or 'auto'" in capsys.readouterr().err
