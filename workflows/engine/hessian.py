"""The cheap level's curvature, handed to the expensive level's optimiser (fidelity ladder).

The expensive backend relaxes each candidate from the cheap level's minimum. Its BFGS starts,
by default, from a stiff isotropic guess (70 eV/A^2) that the soft Na modes (0.2-4 eV/A^2 in a
pore) need many steps to unlearn. The cheap level's own Hessian at its minimum, by central
differences of its forces on the free (Na) atoms, is a far better start when the two energy
surfaces have similar shapes: measured on the 6th Na of the 1.82 nm cavity with SevenNet-0 as the
expensive level and the surrogate as the cheap one, 3 and 7 BFGS steps instead of 15 and 25,
ending within 5 meV of the default relaxation's energy (``benchmarks/ladder.py`` reports the
effect on whole fills).

Cost: ``6 n_free`` cheap force calls per candidate, counted under the cheap backend. VASP's
optimiser takes no initial Hessian, so a ladder under ``vasp`` does not compute it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ase import Atoms

from nafill.structures.geometry import host_indices
from nafill.workflows.backends.base import AseCalculatorBackend, Backend

HESSIAN_KEY = "initial_hessian_eV_A2"
"""Key of a candidate's structure document that carries the cheap Hessian to the relaxation."""

DELTA_A = 0.01
"""Central-difference displacement (A)."""


def free_indices(atoms: Atoms) -> np.ndarray:
    """The atoms a fill's relaxation moves (every non-host atom), in index order."""
    free = np.ones(len(atoms), bool)
    free[host_indices(atoms)] = False
    return np.where(free)[0]


def finite_difference_hessian(backend: Backend, atoms: Atoms, delta_A: float = DELTA_A
                              ) -> tuple[np.ndarray, int, float] | None:
    """Hessian (eV/A^2, ``3 n_free`` square, symmetrised) of ``backend`` at ``atoms`` over the
    free atoms' Cartesian coordinates, with the number of force calls and their wall time (s).
    None for a backend that is not an ASE calculator (its forces are not at hand)."""
    if not isinstance(backend, AseCalculatorBackend):
        return None
    t0 = time.perf_counter()
    free = free_indices(atoms)
    work = atoms.copy()
    work.set_constraint()
    work.calc = backend.calculator
    h = np.zeros((3 * len(free), 3 * len(free)))
    for row, (i, c) in enumerate((i, c) for i in free for c in range(3)):
        x0 = work.positions[i, c]
        work.positions[i, c] = x0 + delta_A
        f_plus = work.get_forces(apply_constraint=False)[free].ravel()
        work.positions[i, c] = x0 - delta_A
        f_minus = work.get_forces(apply_constraint=False)[free].ravel()
        work.positions[i, c] = x0
        h[row] = -(f_plus - f_minus) / (2.0 * delta_A)
    work.calc = None
    return 0.5 * (h + h.T), 6 * len(free), time.perf_counter() - t0


def attach(structure: dict[str, Any], hessian: np.ndarray) -> None:
    """Store ``hessian`` in a structure document (rounded to 1e-4 eV/A^2: it is a start guess)."""
    structure[HESSIAN_KEY] = np.round(np.asarray(hessian, float), 4).tolist()


def initial_hessian(structure: dict[str, Any] | None) -> np.ndarray | None:
    """The Hessian a structure document carries, or None."""
    h = (structure or {}).get(HESSIAN_KEY)
    return None if h is None else np.asarray(h, float)
