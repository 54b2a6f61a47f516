"""Where candidate relaxations run: in this process, or in a pool of worker processes.

Results always come back in input order, so a parallel step keeps exactly the path of a serial
one (each relaxation is deterministic and independent of the others).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from ase import Atoms

from nafill.errors import check_int

if TYPE_CHECKING:
    from nafill.workflows.backends.base import Backend
    from nafill.workflows.engine.documents import RelaxResult

_WORKER_BACKEND = None
_POOLS: dict = {}
"""Persistent worker pools, one per (backend, workers): forking a pool per step costs more than
the relaxations of a surrogate step."""


def _init_worker(backend: Backend) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = backend
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        pass


def _relax_one(args: tuple[Atoms, float, int]) -> RelaxResult:
    atoms, fmax, steps = args
    return _WORKER_BACKEND.relax(atoms, fmax, steps)  # type: ignore[union-attr]


def resolve_workers(workers: int | str | None) -> int:
    """``"auto"`` -> number of CPUs available to this process (at most 8); ints are checked."""
    if workers in (None, "auto", 0):
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            n = os.cpu_count() or 1
        return max(1, min(n, 8))
    return check_int("workers", int(workers), 1, 256)


def map_relax(
    backend: Backend, structures: list[Atoms], fmax_eV_A: float, max_steps: int, workers: int = 1
) -> list[RelaxResult]:
    """Relax ``structures`` with ``backend``; ``workers > 1`` uses a fork-based process pool."""
    workers = resolve_workers(workers)
    if workers == 1 or len(structures) <= 1:
        return [backend.relax(a, fmax_eV_A, max_steps) for a in structures]
    key = (id(backend), workers)
    owner, pool = _POOLS.get(key, (None, None))
    if owner is not backend:  # none yet, or an id reused by a new backend object
        if pool is not None:
            pool.shutdown(wait=False)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                   initializer=_init_worker, initargs=(backend,))
        _POOLS[key] = (backend, pool)
    return list(pool.map(_relax_one, [(a, fmax_eV_A, max_steps) for a in structures]))


@atexit.register
def shutdown_pools() -> None:
    """Stop every worker pool (at exit, or to release the processes early)."""
    for _, pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()
