"""Where candidate relaxations run: in this process, or in a pool of worker processes.

Results always come back in input order, so a parallel step keeps exactly the path of a serial
one (each relaxation is deterministic and independent of the others).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from ase import Atoms

from nafill.errors import check_int

if TYPE_CHECKING:
    from nafill.workflows.backends.base import Backend
    from nafill.workflows.documents import RelaxResult

_WORKER_BACKEND = None


def _init_worker(backend: Backend) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = backend


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
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(structures)), mp_context=ctx,
        initializer=_init_worker, initargs=(backend,),
    ) as pool:
        return list(pool.map(_relax_one, [(a, fmax_eV_A, max_steps) for a in structures]))
