"""Process pools that do not oversubscribe the BLAS.

Each worker is started fresh (``spawn``) with one BLAS/OpenMP thread; with
``fork`` and the parent's multithreaded BLAS, two workers on two cores ran a
measure job 5x slower than one process.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_workers():
    """Within the block, newly spawned processes see one-thread BLAS settings."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def process_pool(jobs: int, **kw):
    """A ProcessPoolExecutor of ``jobs`` spawned single-threaded workers (use inside
    ``single_threaded_workers()``)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               **kw)


def map_tasks(fn, tasks, jobs: int = 1):
    """``fn(task)`` for every task, results in task order: in ``jobs`` spawned single-threaded
    workers when ``jobs > 1``, else in this process.

    The studies (``gaugetest calibrate``, ``--verdict``) seed every task on its own, so the
    results do not depend on ``jobs``; a caller that records each result as it arrives (a
    checkpoint) sees them one by one, in order.

    Examples
    --------
    >>> list(map_tasks(abs, [-1, 2, -3]))
    [1, 2, 3]
    """
    tasks = list(tasks)
    if jobs > 1 and tasks:
        with single_threaded_workers(), process_pool(jobs) as ex:
            yield from ex.map(fn, tasks)
    else:
        for t in tasks:
            yield fn(t)
