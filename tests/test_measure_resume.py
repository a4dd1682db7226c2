"""Resumable measure runs: a run killed with SIGKILL (or interrupted by Ctrl-C) and rerun writes
byte-identical files to an uninterrupted run; --fresh; partial results of other settings, of a
changed checkpoint, damaged or foreign directories are clear exit-2 errors; progress lines
when standard error is not a terminal, with an estimate from this session's work only."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaugetest.cli import main
from gaugetest.measure import journal as journal_mod
from gaugetest.measure.progress import TaskProgress
from helpers import assert_usage_error
from test_measure import HF_PATTERNS, planted_weights, write_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SLOW_SHAPES = {"q_proj": (128, 96), "k_proj": (64, 96), "v_proj": (64, 96), "o_proj": (96, 128),
               "gate_proj": (192, 96), "up_proj": (192, 96), "down_proj": (96, 192)}


@pytest.fixture(scope="module")
def slow_ckpt(tmp_path_factory):
    """8 layers x 7 families, large enough (with 40 null draws) that a run takes seconds."""
    rng = np.random.default_rng(0)
    tensors = {HF_PATTERNS[f].format(i=L): rng.standard_normal(s)
               for f, s in SLOW_SHAPES.items() for L in range(8)}
    return write_checkpoint(tmp_path_factory.mktemp("slow"), tensors, "bf16")


def outputs(prefix: Path) -> tuple[bytes, bytes]:
    return (Path(f"{prefix}-null.json").read_bytes(), Path(f"{prefix}-aligned.json").read_bytes())


def saved_tasks(partial: Path) -> int:
    return sum(n.startswith("task-") for n in os.listdir(partial)) if partial.is_dir() else 0


def test_sigkill_then_rerun_is_byte_identical(slow_ckpt, tmp_path, capsys):
    args = [str(slow_ckpt), "--null-draws", "40", "--seed", "5"]
    assert main(["measure", *args, "-o", str(tmp_path / "ref")]) == 0
    ref = outputs(tmp_path / "ref")

    prefix = tmp_path / "run"
    partial = Path(f"{prefix}.partial")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # --jobs 2: the workers stream each finished task to the parent, which journals it; the
    # whole process group (parent and workers) is killed, as a batch system kills a job
    proc = subprocess.Popen([sys.executable, "-m", "gaugetest", "measure", *args, "-o",
                             str(prefix), "--jobs", "2"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while saved_tasks(partial) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = saved_tasks(partial)
    assert 5 <= done < 49, done                      # killed mid-run
    assert not Path(f"{prefix}-null.json").exists()  # nothing half-written
    capsys.readouterr()
    assert main(["measure", *args, "-o", str(prefix)]) == 0   # same command (any --jobs)
    assert f"resuming: {done} of 49 tasks already saved" in capsys.readouterr().err
    assert outputs(prefix) == ref
    assert not partial.exists()                      # removed once the files are written


def interrupt_after(monkeypatch, k: int):
    """Ctrl-C after the k-th saved task (in-process)."""
    real = journal_mod.Journal.save
    count = {"n": 0}

    def save(self, key, result):
        real(self, key, result)
        count["n"] += 1
        if count["n"] == k:
            raise KeyboardInterrupt

    monkeypatch.setattr(journal_mod.Journal, "save", save)


def interrupted_run(tmp_path, capsys, monkeypatch, seed_weights: int, after: int):
    """A planted checkpoint and a `measure --null-draws 2` run Ctrl-C'd after ``after`` saved
    tasks: returns (checkpoint, output prefix, its .partial directory)."""
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(seed_weights))
    prefix = str(tmp_path / "run")
    with monkeypatch.context() as m:
        interrupt_after(m, after)
        assert main(["measure", str(ckpt), "-o", prefix, "--null-draws", "2"]) == 130
    capsys.readouterr()
    return ckpt, prefix, Path(prefix + ".partial")


def test_ctrl_c_then_rerun_is_byte_identical(tmp_path, capsys, monkeypatch):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(3), "bf16", 2)
    args = [str(ckpt), "--null-draws", "3"]
    assert main(["measure", *args, "-o", str(tmp_path / "ref")]) == 0
    ref = outputs(tmp_path / "ref")
    with monkeypatch.context() as m:
        interrupt_after(m, 11)
        assert main(["measure", *args, "-o", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "11 finished tasks are saved" in err and "rerun the same command" in err
    assert saved_tasks(Path(f"{tmp_path / 'run'}.partial")) == 11
    assert main(["measure", *args, "-o", str(tmp_path / "run")]) == 0
    assert outputs(tmp_path / "run") == ref


def test_other_settings_or_checkpoint_are_clear_errors_and_fresh_starts_over(tmp_path, capsys,
                                                                            monkeypatch):
    ckpt, prefix, partial = interrupted_run(tmp_path, capsys, monkeypatch, 4, 4)
    msg = assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--null-draws", "2",
                                      "--seed", "1"], "seed is 1 now, 0 in the saved run",
                             "--fresh", absent=[Path(prefix + "-null.json")])
    assert str(partial) in msg and saved_tasks(partial) == 4
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--null-draws", "3"],
                       "null_draws is 3 now, 2 in the saved run")
    # the checkpoint changed under the saved results (rewritten: new mtime)
    shard = next((tmp_path / "c").glob("*.safetensors"))
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--null-draws", "2"],
                       "the checkpoint changed")
    # --fresh discards them; the result equals an uninterrupted run
    assert main(["measure", str(ckpt), "-o", prefix, "--null-draws", "2", "--seed", "1",
                 "--fresh"]) == 0
    assert main(["measure", str(ckpt), "-o", str(tmp_path / "ref"), "--null-draws", "2",
                 "--seed", "1"]) == 0
    assert outputs(Path(prefix)) == outputs(tmp_path / "ref") and not partial.exists()


def test_damaged_or_foreign_partial_directories(tmp_path, capsys, monkeypatch):
    ckpt, prefix, partial = interrupted_run(tmp_path, capsys, monkeypatch, 5, 2)
    victim = next(p for p in partial.iterdir() if p.name.startswith("task-"))
    victim.write_text('{"key": "q_proj@0", "resu')             # not by gaugetest: it renames
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--null-draws", "2"],
                       "is damaged", "--fresh")
    other = tmp_path / "mine.partial"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    for extra in ([], ["--fresh"]):
        assert_usage_error(capsys, ["measure", str(ckpt), "-o", str(tmp_path / "mine"), *extra],
                           "something else")
    assert (other / "notes.txt").read_text() == "keep me"


def test_progress_lines_when_not_a_terminal(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(6))
    assert main(["measure", str(ckpt), "-o", str(tmp_path / "p"), "--null-draws", "1"]) == 0
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("gaugetest measure:")]
    # 28 tasks: a line per 5% at most (or per 30 s), and a closing line
    assert 2 <= len(lines) <= 22
    assert lines[-1].startswith("gaugetest measure: 28/28 tasks (100%)") and "done" in lines[-1]
    assert any("left" in l for l in lines[:-1])


def test_time_estimate_counts_only_this_sessions_work_and_weights_costs():
    now = [0.0]
    buf = io.StringIO()
    p = TaskProgress("m", stream=buf, clock=lambda: now[0], tty=False, every_seconds=1e9)
    # 10 tasks, 6 already saved (cost 1 each), 4 left of cost 1, 1, 1, 5
    p.start(total=10, done=6, total_cost=14.0, done_cost=6.0)
    now[0] = 100.0
    p.advance(1.0)             # 100 s for cost 1 -> 7 cost left -> 700 s
    assert "0:01:40 elapsed, about 0:11:40 left" in buf.getvalue()
    assert buf.getvalue().splitlines()[0] == "m: resuming: 6 of 10 tasks already saved"
    # rate limit: no line for a step under 5% within 30 s
    q = TaskProgress("m", stream=io.StringIO(), clock=lambda: now[0], tty=False)
    q.start(total=1000, done=0, total_cost=1000.0, done_cost=0.0)
    for _ in range(49):
        q.advance(1.0)
    assert q.stream.getvalue() == ""
    q.advance(1.0)            # 5%
    assert q.stream.getvalue().count("\n") == 1
    now[0] += 31.0
    q.advance(1.0)            # 30 s later
    assert q.stream.getvalue().count("\n") == 2
