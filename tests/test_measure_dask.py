"""--scheduler: a Dask LocalCluster (2 worker processes, 1 thread each) started here runs a
small checkpoint with each gauge; the files are byte-identical to a local run.  Skipped when
dask.distributed is not installed (.ci/run installs it, so CI runs it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gaugetest.cli import main
from helpers import assert_usage_error
from test_measure import planted_weights, write_checkpoint

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes that import gaugetest from this tree."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=40) as c:
            yield c
    finally:
        mp.undo()


@pytest.mark.parametrize("gauge", ["orthogonal", "symmetry"])
def test_dask_local_cluster_equals_local_run(tmp_path, cluster, gauge):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(9), "bf16", 2)
    args = [str(ckpt), "--null-draws", "3", "--seed", "2", "--gauge", gauge]
    if gauge == "symmetry":     # q_proj (16, 12), k/v (8, 12): 2 query / 1 KV heads of 8
        args += ["--heads", "2,1"]
    assert main(["measure", *args, "-o", str(tmp_path / "local")]) == 0
    assert main(["measure", *args, "-o", str(tmp_path / "dask"),
                 "--scheduler", cluster.scheduler_address]) == 0
    with distributed.Client(cluster) as client:   # the work really ran on the workers
        assert len(client.nthreads()) == 2
    for suffix in ("-null.json", "-aligned.json"):
        assert (Path(f"{tmp_path / 'dask'}{suffix}").read_bytes()
                == Path(f"{tmp_path / 'local'}{suffix}").read_bytes())


def test_unreachable_scheduler_and_jobs_are_usage_errors(tmp_path, capsys, monkeypatch):
    from gaugetest.measure import runners
    monkeypatch.setattr(runners, "CONNECT_TIMEOUT", "1s")
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(9))
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", str(tmp_path / "x"), "--scheduler",
                                "tcp://127.0.0.1:9", "--jobs", "2"], "--jobs")
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", str(tmp_path / "x"), "--scheduler",
                                "tcp://127.0.0.1:9"], "--scheduler", "Dask scheduler",
                       absent=[tmp_path / "x-null.json"])
