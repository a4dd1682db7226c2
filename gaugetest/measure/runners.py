"""Where the chains of a measure run execute: in this process, in local worker processes, or
on a Dask distributed cluster.  Every runner calls ``on_result(task, result)`` in this process
once per finished task (the caller journals it and advances the progress bar), whatever the
order; the numbers never depend on the runner.

Local workers are spawned with one BLAS thread each (``gaugetest.parallel``) and stream each
task's result back through a queue as soon as it is done, so a chain of many pairs is journaled
pair by pair.  On Dask a chain is one Dask task; its results are journaled when it returns.
"""
from __future__ import annotations

import queue as queue_mod
from dataclasses import dataclass

from ..errors import InputError, UsageError
from .backends import BackendSpec
from .gauges import Checkpoint, Gauge, Settings
from .readers import open_checkpoint


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run chains (picklable)."""

    ckpt: Checkpoint
    gauge: Gauge
    settings: Settings
    backend: BackendSpec


# -- errors cross process boundaries as plain tuples: InputError/UsageError do not unpickle

def _error_payload(exc: Exception):
    if isinstance(exc, UsageError):
        return ("usage", exc.option, exc.expected, None)
    if isinstance(exc, InputError):
        return ("input", exc.source, exc.field, exc.expected, exc.got)
    return None


def _raise_payload(p) -> None:
    if p[0] == "usage":
        raise UsageError(p[1], p[2])
    raise InputError(p[1], p[2], p[3], p[4])


def _execute(job: Job, chains, reader, backend, emit) -> None:
    for chain in chains:
        for task, result in job.gauge.run(chain, reader, backend, job.ckpt, job.settings):
            emit(task, result)


def run_serial(job: Job, chains, on_result) -> None:
    """In this process, chain after chain, with one BLAS thread (and one torch thread): on
    this shared 2-core machine a 2-thread BLAS made a small run 40x slower (132 s vs 3 s)."""
    import contextlib

    with contextlib.ExitStack() as stack:
        try:
            import scipy.linalg  # noqa: F401  (load scipy's BLAS so that the limit covers it)
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(limits=1))
        except ModuleNotFoundError:  # an optional speed-up; the numbers do not depend on it
            pass
        if job.backend.name == "torch":
            import torch
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, before)
        _execute(job, chains, open_checkpoint(job.ckpt.path), job.backend.create(), on_result)


# ----------------------------------------------------------------------------- local processes

_WORKER: dict = {}


def _init_worker(job: Job, results) -> None:
    if job.backend.name == "torch":
        import torch
        torch.set_num_threads(1)
    _WORKER.update(job=job, results=results, reader=open_checkpoint(job.ckpt.path),
                   backend=job.backend.create())


def _run_chain_in_worker(chain) -> None:
    w = _WORKER
    try:
        _execute(w["job"], [chain], w["reader"], w["backend"],
                 lambda task, result: w["results"].put((task.key, result)))
    except (InputError, UsageError) as exc:
        w["results"].put(("__error__", _error_payload(exc)))


def run_processes(job: Job, chains, jobs: int, on_result) -> None:
    """In ``jobs`` spawned single-threaded worker processes; results streamed per task."""
    import multiprocessing

    from ..parallel import process_pool, single_threaded_workers

    by_key = {t.key: t for c in chains for t in c}
    pending = set(by_key)
    results = multiprocessing.get_context("spawn").Queue()
    ex = process_pool(jobs, initializer=_init_worker, initargs=(job, results))
    try:
        with single_threaded_workers():   # the pool spawns its workers at the first submit
            futures = [ex.submit(_run_chain_in_worker, c) for c in chains]
        while pending:
            try:
                key, payload = results.get(timeout=0.25)
            except queue_mod.Empty:
                for f in futures:
                    if f.done() and f.exception() is not None:
                        raise f.exception()
                if all(f.done() for f in futures) and results.empty():
                    raise RuntimeError(f"workers finished with {len(pending)} tasks missing")
                continue
            if key == "__error__":
                _raise_payload(payload)
            pending.discard(key)
            on_result(by_key[key], payload)
        for f in futures:
            f.result()
    except BaseException:
        # Ctrl-C, an error, a killed worker: stop the others now (their finished tasks are
        # already journaled) instead of waiting for their chains to end
        for p in list(getattr(ex, "_processes", {}).values()):
            p.terminate()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


# ----------------------------------------------------------------------------- Dask

_DASK_CACHE: dict = {}
CONNECT_TIMEOUT = "15s"


def run_chain_on_dask_worker(job: Job, chain) -> list:
    """A Dask task: run one chain on the worker (reader and backend cached per worker process).

    Returns [(task key, result)] or [("__error__", payload)] for a user-facing input error.
    Dask's nanny starts workers with one BLAS/OpenMP thread (``distributed.nanny.pre-spawn-environ``).
    """
    key = (job.ckpt.path, job.backend)
    if key not in _DASK_CACHE:
        if job.backend.name == "torch":
            import torch
            torch.set_num_threads(1)
        _DASK_CACHE.clear()
        _DASK_CACHE[key] = (open_checkpoint(job.ckpt.path), job.backend.create())
    reader, backend = _DASK_CACHE[key]
    out = []
    try:
        _execute(job, [chain], reader, backend, lambda t, r: out.append((t.key, r)))
    except (InputError, UsageError) as exc:
        return [("__error__", _error_payload(exc))]
    return out


def connect(address: str):
    """A Dask client for ``--scheduler``; exit-2 errors when dask is missing or unreachable."""
    try:
        from distributed import Client
    except ModuleNotFoundError:
        raise UsageError("--scheduler", "dask.distributed installed (pip install "
                         "'gaugetest[dask]')", address) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError("--scheduler", "the address of a running Dask scheduler, e.g. "
                         "tcp://host:8786", f"{address} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:80] if str(exc) else 'no answer'})") from None


def dask_workers(client) -> int:
    return max(1, sum(client.nthreads().values()))


def run_dask(job: Job, chains, client, on_result) -> None:
    """Each chain one Dask task (the Dask scheduler places them); results journaled as each
    chain returns."""
    from distributed import as_completed

    by_key = {t.key: t for c in chains for t in c}
    futures = [client.submit(run_chain_on_dask_worker, job, c, pure=False) for c in chains]
    try:
        for fut in as_completed(futures):
            for key, payload in fut.result():
                if key == "__error__":
                    _raise_payload(payload)
                on_result(by_key[key], payload)
    except BaseException:
        client.cancel(futures)
        raise
