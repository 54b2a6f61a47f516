"""The backend interface and the one ASE relaxation loop every ASE-based backend shares.

A backend relaxes a structure with some atoms frozen (by default every non-Na atom: the carbon
walls and their H/O) to a force threshold, or computes a single point, and returns a
:class:`~nafill.workflows.engine.documents.RelaxResult`. The same document comes back from every backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.filters import Filter
from ase.optimize import BFGS

from nafill.errors import NafillInputError, check_int, check_range
from nafill.structures.geometry import host_indices
from nafill.workflows.backends.emt_surrogate import rigid_walls
from nafill.workflows.engine.bulk import BccResult, optimise_bcc
from nafill.workflows.engine.documents import RelaxResult
from nafill.workflows.engine.parallel import map_relax

log = logging.getLogger(__name__)


class Backend(ABC):
    """An energy engine. Subclasses implement :meth:`relax` and :meth:`single_point`."""

    name: str = "backend"
    takes_initial_hessian: bool = False
    """Whether :meth:`relax` uses an ``initial_hessian`` (its optimiser is nafill's BFGS)."""
    default_fmax_eV_A: float = 0.05
    """Force threshold of a fill's relaxations when its policy leaves ``fmax_eV_A`` unset, eV/A."""
    searches_every_step: bool = False
    """Whether a single-fidelity fill on this backend gets the search a screen's cheap level gets:
    perturbations and nucleation moves at every step, not only to the policy's ``refine_max_na``
    and ``coalesce_max_na`` (:meth:`nafill.workflows.engine.policy.FillingPolicy.perturbs_at`).
    True for the ``surrogate`` only: its calls cost milliseconds and its paths are meant as
    physics. ``emt`` calls cost milliseconds too, but its paths are workflow tests, and the wider
    search made its 1.82 nm fill six times slower (session 17: 21 -> 122 s); ``mlip``, ``vasp``
    and ``module:factory`` calculators are costly."""

    def settings(self) -> dict[str, Any]:
        """JSON-safe settings that determine the energies (used for caching references)."""
        return {}

    def fingerprint(self) -> str:
        """Stable hash of the name and settings: equal fingerprints give equal energies."""
        blob = json.dumps({"name": self.name, "settings": self.settings()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "settings": self.settings(), "fingerprint": self.fingerprint()}

    @abstractmethod
    def relax(
        self,
        atoms: Atoms,
        fmax_eV_A: float = 0.05,
        max_steps: int = 300,
        fixed: Sequence[int] | None = None,
        initial_hessian: np.ndarray | None = None,
    ) -> RelaxResult:
        """Relax ``atoms`` with ``fixed`` atoms frozen (default: every non-Na atom).

        ``initial_hessian`` (eV/A^2, 3 n_free square over the free atoms' Cartesian coordinates
        in index order): a curvature estimate to start the optimiser from, e.g. the cheap level's
        at the cheap minimum (:mod:`nafill.workflows.engine.hessian`). Backends whose optimiser
        cannot take one (VASP's own) ignore it."""

    @abstractmethod
    def single_point(self, atoms: Atoms) -> RelaxResult:
        """Energy (and forces) of ``atoms`` as they are."""

    def relax_walls_and_na(self, atoms: Atoms, fmax_eV_A: float = 0.05, max_steps: int = 500) -> RelaxResult:
        """Relax everything (walls and Na): the Na-layer spacing models (walls free, as ISIF=2)."""
        return self.relax(atoms, fmax_eV_A, max_steps, fixed=[])

    def bulk_na(self) -> BccResult:
        """Relaxed bcc Na (lattice optimised) with this backend's settings."""

        def energy(a: Atoms) -> float:
            r = self.single_point(a)
            if not r.ok:
                raise RuntimeError(f"bcc Na single point failed: {r.error}")
            return float(r.energy_eV)

        return optimise_bcc(energy)

    def analyse_kept(self, atoms: Atoms, directory=None) -> dict[str, Any]:
        """Extra analysis of the structure kept at a step, run once per step after the selection
        (VASP: a static run with charge files and the Na Bader valence). Default: nothing, ``{}``.
        A returned ``na_bader_valence`` goes into the step record."""
        return {}

    def relax_many(
        self, structures: Sequence[Atoms], fmax_eV_A: float, max_steps: int, workers: int = 1,
        initial_hessians: Sequence[np.ndarray | None] | None = None,
    ) -> list[RelaxResult]:
        """Relax several structures; results in input order (same with any ``workers``).
        ``initial_hessians``: one per structure (or None), as for :meth:`relax`."""
        return map_relax(self, list(structures), fmax_eV_A, max_steps, workers, initial_hessians)


HESSIAN_FLOOR_EV_A2 = 0.5
"""Smallest curvature an initial Hessian keeps (eV/A^2): soft or negative modes of the cheap level
are raised to it, so the first BFGS steps stay bounded (and ``maxstep_A`` caps them anyway)."""


def positive_definite(hessian: np.ndarray, floor_eV_A2: float = HESSIAN_FLOOR_EV_A2) -> np.ndarray:
    """``hessian`` symmetrised, with eigenvalues replaced by ``max(|w|, floor)`` (eV/A^2)."""
    h = np.asarray(hessian, float)
    w, v = np.linalg.eigh(0.5 * (h + h.T))
    return (v * np.maximum(np.abs(w), floor_eV_A2)) @ v.T


def max_free_force(forces: np.ndarray, free: np.ndarray) -> float:
    """Largest force norm (eV/A) over the free atoms (0 when none is free)."""
    if not free.any():
        return 0.0
    return float(np.linalg.norm(forces[free], axis=1).max())


class AseCalculatorBackend(Backend):
    """Backend around any ASE calculator, relaxed with ASE's BFGS (deterministic).

    Args:
        factory: zero-argument callable returning a fresh calculator.
        name: backend name stored in documents.
        settings: JSON-safe description of the calculator (for fingerprints).
        maxstep_A: BFGS maximum step, A.
    """

    freeze_host_required = False
    takes_initial_hessian = True

    def __init__(
        self,
        factory: Callable[[], Any],
        name: str,
        settings: dict[str, Any] | None = None,
        maxstep_A: float = 0.2,
    ) -> None:
        self.factory = factory
        self.name = name
        self._settings = dict(settings or {})
        self.maxstep_A = float(maxstep_A)
        self._calc = None

    def settings(self) -> dict[str, Any]:
        return {**self._settings, "optimizer": "BFGS", "maxstep_A": self.maxstep_A}

    @property
    def calculator(self):
        if self._calc is None:
            self._calc = self.factory()
        return self._calc

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_calc"] = None  # calculators are rebuilt in worker processes
        return state

    def _prepare(self, atoms: Atoms, fixed: Sequence[int] | None) -> tuple[Atoms, np.ndarray]:
        work = atoms.copy()
        fix = host_indices(work) if fixed is None else np.asarray(fixed, int)
        work.set_constraint(FixAtoms(indices=fix) if len(fix) else None)
        free = np.ones(len(work), bool)
        free[fix] = False
        if self.freeze_host_required and len(set(host_indices(work)) - set(fix.tolist())):
            raise NafillInputError(
                f"backend {self.name!r} cannot relax host atoms (it has no bonding inside the "
                "walls); keep the host frozen or use the mlip or VASP backend"
            )
        work.calc = self.calculator
        return work, free

    def single_point(self, atoms: Atoms) -> RelaxResult:
        t0 = time.perf_counter()
        try:
            work, free = self._prepare(atoms, range(len(atoms)))
            e = work.get_potential_energy()
            f = work.get_forces(apply_constraint=False)
            fmax = float(np.linalg.norm(f, axis=1).max()) if len(f) else 0.0
        except Exception as exc:  # noqa: BLE001 - every backend error becomes a failed result
            return RelaxResult.failed(self.name, self.settings(), f"{type(exc).__name__}: {exc}",
                                      time.perf_counter() - t0)
        work.calc = None
        return RelaxResult.from_atoms(work, e, fmax, 0, True, self.name, self.settings(),
                                      time.perf_counter() - t0, n_evaluations=1)

    def relax(
        self,
        atoms: Atoms,
        fmax_eV_A: float = 0.05,
        max_steps: int = 300,
        fixed: Sequence[int] | None = None,
        initial_hessian: np.ndarray | None = None,
    ) -> RelaxResult:
        check_range("fmax_eV_A", fmax_eV_A, 0.0, 10.0, "eV/A", lo_inclusive=False)
        check_int("max_steps", max_steps, 0, 100000)
        t0 = time.perf_counter()
        work, free = self._prepare(atoms, fixed)
        try:
            # the optimizer sees only the free atoms: its Hessian is 3 n_free square, not 3 N
            opt = BFGS(Filter(work, indices=np.where(free)[0]), logfile=None, maxstep=self.maxstep_A)
            if initial_hessian is not None and np.shape(initial_hessian) == (3 * free.sum(),) * 2:
                opt.H0 = positive_definite(initial_hessian)
            converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps)) if free.any() else True
            n_steps = int(opt.nsteps)
            e = work.get_potential_energy()
            fmax = max_free_force(work.get_forces(apply_constraint=False), free)
        except Exception as exc:  # noqa: BLE001
            return RelaxResult.failed(self.name, self.settings(), f"{type(exc).__name__}: {exc}",
                                      time.perf_counter() - t0)
        work.calc = None
        return RelaxResult.from_atoms(
            work, e, fmax, n_steps, converged and fmax <= fmax_eV_A + 1e-12, self.name,
            self.settings(), time.perf_counter() - t0, n_evaluations=n_steps + 1,
        )


class FrozenHostBackend(AseCalculatorBackend):
    """A Na-carbon model with no bonding inside the walls (``emt``, ``surrogate``).

    The host must stay frozen in fills; in the spacing workflow the walls move as rigid sheets
    along z (:func:`~nafill.workflows.backends.emt_surrogate.rigid_walls`).
    """

    freeze_host_required = True

    def relax_walls_and_na(self, atoms: Atoms, fmax_eV_A: float = 0.05, max_steps: int = 500) -> RelaxResult:
        """Walls move as rigid sheets along z, the Na freely."""
        t0 = time.perf_counter()
        work = atoms.copy()
        work.set_constraint(rigid_walls(work))
        work.calc = self.calculator
        opt = BFGS(work, logfile=None, maxstep=self.maxstep_A)
        converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
        e = work.get_potential_energy()
        fmax = max_free_force(work.get_forces(), np.ones(len(work), bool))
        work.set_constraint()
        work.calc = None
        return RelaxResult.from_atoms(work, e, fmax, opt.nsteps, converged, self.name,
                                      {**self.settings(), "walls": "rigid along z"}, time.perf_counter() - t0,
                                      n_evaluations=opt.nsteps + 1)
