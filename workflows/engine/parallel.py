"""Where candidate relaxations run: in this process, or in a pool of worker processes.

Results always come back in input order, so a parallel step keeps exactly the path of a serial
one (each relaxation is deterministic and independent of the others).

Pools are created once per process and backend (keyed by the backend's fingerprint, so the new
backend object every FireWorks relax task builds reuses the pool) and always reaped: at exit,
on SIGTERM/SIGINT (see :func:`install_signal_handlers`), and, should the parent be SIGKILLed,
by the kernel (each worker asks for SIGKILL when its parent dies).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from nafill.errors import check_int

if TYPE_CHECKING:
    from nafill.workflows.backends.base import Backend
    from nafill.workflows.engine.documents import RelaxResult

_WORKER_BACKEND = None
_POOLS: dict = {}
"""Persistent worker pools, one per (backend, workers): forking a pool per step costs more than
the relaxations of a surrogate step."""


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this worker when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(backend: Backend, parent_pid: int | None = None) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = backend
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which reaps us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        pass


def _relax_one(args: tuple[Atoms, float, int, np.ndarray | None]) -> RelaxResult:
    atoms, fmax, steps, hessian = args
    return _WORKER_BACKEND.relax(atoms, fmax, steps, initial_hessian=hessian)  # type: ignore[union-attr]


def resolve_workers(workers: int | str | None) -> int:
    """``"auto"`` -> number of CPUs available to this process (at most 8); ints are checked."""
    if isinstance(workers, str):
        w = workers.strip().lower()
        if w == "auto":
            workers = "auto"
        elif w.lstrip("+").isdigit():
            workers = int(w)
        else:
            from nafill.errors import NafillInputError

            raise NafillInputError(f"workers = {workers!r} must be a whole number of processes (1-256) or 'auto'")
    if workers in (None, "auto", 0):
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            n = os.cpu_count() or 1
        return max(1, min(n, 8))
    return check_int("workers", int(workers), 1, 256)


def map_relax(
    backend: Backend, structures: list[Atoms], fmax_eV_A: float, max_steps: int, workers: int = 1,
    initial_hessians: Sequence[np.ndarray | None] | None = None,
) -> list[RelaxResult]:
    """Relax ``structures`` with ``backend``; ``workers > 1`` uses a fork-based process pool.
    ``initial_hessians``: one per structure or None (see :meth:`Backend.relax`)."""
    workers = resolve_workers(workers)
    hessians = list(initial_hessians) if initial_hessians is not None else [None] * len(structures)
    if len(hessians) != len(structures):
        raise ValueError(f"{len(hessians)} initial Hessians for {len(structures)} structures")
    if workers == 1 or len(structures) <= 1:
        return [backend.relax(a, fmax_eV_A, max_steps, initial_hessian=h) for a, h in zip(structures, hessians)]
    key = (_backend_key(backend), workers)
    pool = _POOLS.get(key)
    if pool is None:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                   initializer=_init_worker, initargs=(backend, os.getpid()))
        _POOLS[key] = pool
    return list(pool.map(_relax_one, [(a, fmax_eV_A, max_steps, h) for a, h in zip(structures, hessians)]))


def _backend_key(backend: Backend):
    try:
        return backend.fingerprint()
    except Exception:  # noqa: BLE001 - a backend without a fingerprint: one pool per object
        return ("object", id(backend))


def pool_processes() -> list[int]:
    """PIDs of every worker process of this process's pools (tests, diagnostics)."""
    return [p.pid for pool in _POOLS.values() for p in (getattr(pool, "_processes", None) or {}).values()]


@atexit.register
def shutdown_pools() -> None:
    """Stop every worker pool now and reap its processes (at exit, on a signal, or early)."""
    pools = list(_POOLS.values())
    _POOLS.clear()
    for pool in pools:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    shutdown_pools()
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """SIGTERM/SIGINT stop the command cleanly: pools reaped, locks released, stores written
    (the ``finally`` blocks and exit handlers run). Only in the main thread."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
