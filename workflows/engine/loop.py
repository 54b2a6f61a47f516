"""The local filling loop: :func:`start_path`, :func:`run_step` and :func:`fill` (checkpointed
after every step, resumable). Notebooks and ``nafill fill --engine local`` call :func:`fill`; a
step's logic is in :mod:`nafill.workflows.engine.steps`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ase import Atoms

from nafill import __version__
from nafill.errors import NafillInputError
from nafill.io import atoms_to_dict
from nafill.structures.capacity import pore_capacity
from nafill.structures.geometry import guest_indices
from nafill.workflows.backends.base import Backend
from nafill.workflows.engine.documents import FillingPath, StepRecord
from nafill.workflows.engine.hessian import initial_hessian
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.engine.references import references
from nafill.workflows.engine.steps import (
    PoreFullError,
    analyse_kept_step,
    complete_step,
    extend_step,
    plan_step,
)
from nafill.workflows.engine.store import RunStore
from nafill.workflows.engine.summary import finish

log = logging.getLogger(__name__)


def start_path(
    host: Atoms, backend: Backend, policy: FillingPolicy, use_cache: bool = True
) -> FillingPath:
    """A new, empty path: validated policy, references computed (or read from the cache)."""
    capacity = pore_capacity(host)
    policy.validate(capacity, backend)
    if len(guest_indices(host)):
        raise NafillInputError(
            f"the host already holds {len(guest_indices(host))} Na; start from an empty host"
        )
    ref = references(backend, host, use_cache)
    ref["theoretical_capacity_na"] = capacity
    host_doc = atoms_to_dict(host)
    return FillingPath(
        host=host_doc,
        backend=backend.describe(),
        policy=policy.as_dict(),
        reference=ref,
        state={"beam": [{"energy_eV": ref["e_host_eV"], "parent_rank": 0, "structure": host_doc}],
               "finished": False, "stop_reason": None},
        nafill_version=__version__,
    )


def run_step(path: FillingPath, backend: Backend) -> StepRecord | None:
    """Plan, relax (in this process or the policy's worker pool) and complete one step.

    Returns None (and marks the path finished) when no candidate site is left, or when every
    candidate pushed a Na out of the pore.
    """
    t0 = time.perf_counter()
    policy = FillingPolicy.from_dict(path.policy)
    try:  # planning (no site left) or completing (every candidate expelled a Na) may find the pore full
        plan = plan_step(path, backend)
        results = backend.relax_many(
            [c.atoms() for c in plan.candidates], policy.fmax_eV_A, policy.max_relax_steps, policy.workers,
            initial_hessians=[initial_hessian(c.structure) for c in plan.candidates],
        )
        while added := extend_step(path, plan, results):  # the fidelity ladder takes one more
            results += backend.relax_many([plan.candidates[k].atoms() for k in added], policy.fmax_eV_A,
                                          policy.max_relax_steps, policy.workers,
                                          initial_hessians=[initial_hessian(plan.candidates[k].structure)
                                                            for k in added])
        record = complete_step(path, plan, results, wall_s=time.perf_counter() - t0)
    except PoreFullError as exc:
        finish(path, str(exc))
        return None
    record.na_bader_valence = analyse_kept_step(path, backend).get("na_bader_valence", record.na_bader_valence)
    return record


def fill(
    host: Atoms,
    backend: Backend,
    policy: FillingPolicy | None = None,
    out_dir=None,
    on_step: Callable[[StepRecord, FillingPath], None] | None = None,
    resume: bool = True,
    use_cache: bool = True,
) -> FillingPath:
    """Fill ``host`` with Na along the lowest-enthalpy path.

    Args:
        host: empty pore model (carbon frozen).
        backend: energy backend (e.g. ``get_backend("emt")``).
        policy: search policy (default :class:`FillingPolicy()`).
        out_dir: if given, ``path.json`` and ``path.extxyz`` are written there after every step,
            and an unfinished run found there is resumed (same host, backend and policy).
        on_step: called after every step (progress bars, logging).
        resume: resume from ``out_dir`` when possible (else refuse to overwrite a different run).
        use_cache: reuse cached reference energies.

    Returns:
        The :class:`FillingPath` document.
    """
    policy = policy or FillingPolicy()
    store = RunStore(out_dir) if out_dir is not None else None
    path = None
    if store is not None and resume:
        path = store.load_for_resume(host, backend, policy)
    if path is None:
        path = start_path(host, backend, policy, use_cache)
        if store is not None:
            store.save(path)
    path.state["clock_s"] = time.time()  # elapsed time counts from here (a resume restarts it)
    while not path.state.get("finished"):
        record = run_step(path, backend)
        if store is not None:
            store.save(path)
        if record is None:
            log.info("stopping: %s", path.state["stop_reason"])
            break
        log.info("step %d: H = %.4f eV, V = %.4f V", record.n_na, record.formation_enthalpy_eV,
                 record.step_voltage_V)
        if on_step is not None:
            on_step(record, path)
    return path
