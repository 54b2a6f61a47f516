"""Bulk bcc Na with any calculator: lattice optimisation, cohesive energy, bulk modulus.

Used for the Na chemical potential ``mu_Na`` (energy per atom of relaxed bcc Na) by every backend,
and by the surrogate's parameter fit. Only energies are needed (no stress): the lattice constant
is found by a coarse scan followed by a Birch-Murnaghan fit around the minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from ase.eos import EquationOfState
from ase.units import GPa

from nafill.errors import NafillRunError
from nafill.structures.pores import bcc_sodium


@dataclass
class BccResult:
    """Relaxed bcc Na: lattice constant (A), energy per atom (eV), bulk modulus (GPa)."""

    lattice_A: float
    energy_per_atom_eV: float
    bulk_modulus_GPa: float
    n_evaluations: int

    def as_dict(self) -> dict:
        return asdict(self)


def bcc_energy_per_atom(energy_of: Callable[[Atoms], float], lattice_A: float, cubic: bool = False) -> float:
    """Energy per atom (eV) of bcc Na at lattice constant ``lattice_A`` (A)."""
    atoms = bcc_sodium(lattice_A, cubic=cubic)
    return energy_of(atoms) / len(atoms)


def optimise_bcc(
    energy_of: Callable[[Atoms], float],
    a_range_A: tuple[float, float] = (3.7, 4.8),
    n_scan: int = 12,
    cubic: bool = False,
) -> BccResult:
    """Optimise the bcc Na lattice constant for an energy function.

    Args:
        energy_of: returns the total energy (eV) of an ``Atoms`` (with a calculator attached or not).
        a_range_A: scan range of the lattice constant, A.
        n_scan: points of the coarse scan; the fit then uses 7 points within +-2 % of its minimum.
        cubic: use the 2-atom conventional cell (for calculators that need it).
    """
    grid = np.linspace(*a_range_A, n_scan)
    e = np.array([bcc_energy_per_atom(energy_of, a, cubic) for a in grid])
    k = int(np.argmin(e))
    k = min(max(k, 1), len(grid) - 2)
    a_guess = grid[k]
    fine = a_guess * np.linspace(0.95, 1.05, 9)
    ef = np.array([bcc_energy_per_atom(energy_of, a, cubic) for a in fine])
    volumes = fine**3 / 2.0
    eos = EquationOfState(volumes, ef, eos="birchmurnaghan")
    try:
        v0, e0, B = eos.fit()
    except Exception as exc:  # noqa: BLE001 - scipy/ASE raise several kinds
        v0, B = float("nan"), float("nan")
        reason = str(exc)
    else:
        reason = "no minimum"
    a0 = float((2.0 * v0) ** (1.0 / 3.0))
    if not (np.isfinite(a0) and np.isfinite(B) and a_range_A[0] * 0.9 < a0 < a_range_A[1] * 1.1):
        raise NafillRunError(
            f"bcc Na has no energy minimum for this backend between {a_range_A[0]} and {a_range_A[1]} A "
            f"(equation-of-state fit: {reason}); the backend cannot describe Na metal"
        )
    e_at_a0 = bcc_energy_per_atom(energy_of, a0, cubic)
    return BccResult(
        lattice_A=a0,
        energy_per_atom_eV=float(e_at_a0),
        bulk_modulus_GPa=float(B / GPa),
        n_evaluations=len(grid) + len(fine) + 1,
    )
