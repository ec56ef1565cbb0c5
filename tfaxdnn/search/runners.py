"""Runners: where candidates are evaluated, in this process (`SerialRunner`) or on Dask (`DaskRunner`).

One protocol (`Runner`), pymoo's for elementwise evaluation (``Problem(elementwise_runner=...)``): a runner is a
callable ``runner(f, X) -> list`` giving ``[f(x) for x in X]`` in ``X``'s order, however it spreads the calls; it has
a ``description``, a ``workers`` count and ``close()`` (also a context manager). For Dask, ``f`` must pickle: a
module-level function or a `functools.partial` of one whose bound arguments are small and name what a worker needs
to build once (an evaluator spec); the worker keeps what it built in a process-global cache (see
`tfaxdnn.search.nas.worker`), so each worker process rebuilds the evaluator once per search, not per candidate.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, List, Optional, Protocol, Sequence

__all__ = ["Runner", "SerialRunner", "DaskRunner", "make_runner", "default_workers"]


class Runner(Protocol):
    """``runner(f, X)`` -> ``[f(x) for x in X]`` (order kept); ``close()`` releases what the runner started."""

    workers: int
    description: str

    def __call__(self, f: Callable, X: Sequence) -> List: ...

    def close(self) -> None: ...


class _Closing:
    """``with runner: ...`` closes it on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialRunner(_Closing):
    """Evaluates in this process, in order."""

    workers = 1
    description = "serial (in-process)"

    def __call__(self, f: Callable, X: Sequence) -> List:
        return [f(x) for x in X]

    def close(self) -> None:
        pass


class DaskRunner(_Closing):
    """`dask.distributed`: a `LocalCluster` of ``workers`` processes (one thread each), or an existing cluster at
    ``scheduler`` (``tcp://host:port``). An unreachable scheduler raises `ConnectionError` after ``timeout`` s."""

    def __init__(self, workers: int = 2, scheduler: Optional[str] = None, timeout: float = 5.0):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=timeout, set_as_default=False)
            except Exception as exc:  # noqa: BLE001  (OSError, TimeoutError, ValueError for a bad address)
                raise ConnectionError(f"Dask scheduler {scheduler!r} did not answer within {timeout:g} s "
                                      f"({type(exc).__name__}: {exc}). Start one (`dask scheduler`, then "
                                      "`dask worker ADDRESS`) or drop --scheduler to use a local cluster.") from None
        else:
            if int(workers) < 1:
                raise ValueError(f"`workers` must be >= 1 for a local Dask cluster. Received: {workers}")
            # Workers inherit the environment: each TF runtime gets its share of the cores, not all of them.
            threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
            env = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
                   "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                self.cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
            finally:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            self.client = Client(self.cluster, set_as_default=False)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or int(workers)
        self.description = (f"Dask scheduler {scheduler}" if scheduler else
                            f"Dask LocalCluster, {self.workers} worker processes")

    def __call__(self, f: Callable, X: Sequence) -> List:
        X = list(X)
        if not X:
            return []
        return self.client.gather(self.client.map(f, X, pure=False))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def default_workers() -> int:
    """Local workers worth starting here: 0 (in-process) on <= 2 cores, where one TF process using both cores
    evaluated a candidate 1.5x faster than 2 single-threaded workers (docs/nas.md); else half the cores."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else cores // 2


def make_runner(workers: int = 0, scheduler: Optional[str] = None) -> Runner:
    """``scheduler`` given: that cluster; ``workers`` >= 1: a local Dask cluster; else in-process."""
    if scheduler or int(workers) >= 1:
        return DaskRunner(workers=max(int(workers), 1), scheduler=scheduler)
    return SerialRunner()
