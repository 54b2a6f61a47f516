"""Graphene sheets and bilayer slabs (pure functions returning ASE ``Atoms``).

Conventions (shared by every builder):

* Hexagonal graphene cell ``a1 = a (1, 0, 0)``, ``a2 = a (1/2, sqrt(3)/2, 0)`` with
  ``a = sqrt(3) * d_CC``; basis atoms at fractional ``(0, 0)`` and ``(1/3, 1/3)``.
* The lower wall lies at ``z = vacuum_A / 2`` and the upper wall ``spacing`` above it; the cell
  height is ``spacing + vacuum``, so the vacuum between the outer faces (through the periodic
  image) is exactly ``vacuum_A``.
* Wall atoms carry ``tag`` 1 (lower) or 2 (upper) and the same number in the per-atom array
  ``"wall"``; guests (Na) carry 0.  Wall atoms are frozen with ``FixAtoms``.
* AB (Bernal) stacking shifts the upper sheet by ``(a1 + a2) / 3``: half of its atoms sit
  exactly above lower-sheet atoms, the other half above hexagon centres.  AA puts every atom
  above another.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from nafill.constants import (
    CC_BOND_A,
    DEFAULT_VACUUM_A,
    NM_TO_A,
    SPACING_MAX_NM,
    SPACING_MIN_NM,
    TAG_LOWER_WALL,
    TAG_UPPER_WALL,
    WALL_ARRAY,
)
from nafill.errors import NafillInputError, check_int, check_range

STACKINGS = ("AB", "AA")


def graphene_lattice_A(cc_bond_A: float = CC_BOND_A) -> float:
    """Graphene lattice constant ``a = sqrt(3) * d_CC`` in A."""
    return float(np.sqrt(3.0) * cc_bond_A)


def _check_common(
    spacing_nm: float, supercell: tuple[int, int], vacuum_A: float, cc_bond_A: float
) -> tuple[int, int]:
    check_range("spacing_nm", spacing_nm, SPACING_MIN_NM, SPACING_MAX_NM, "nm")
    if len(tuple(supercell)) != 2:
        raise NafillInputError(f"supercell = {supercell!r} must be two integers (n, m)")
    n = check_int("supercell[0]", supercell[0], 1, 20)
    m = check_int("supercell[1]", supercell[1], 1, 20)
    check_range("vacuum_A", vacuum_A, 5.0, 100.0, "A")
    check_range("cc_bond_A", cc_bond_A, 1.30, 1.60, "A")
    return n, m


def hexagonal_sheet_positions(
    n: int, m: int, cc_bond_A: float = CC_BOND_A, shift_frac: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(xy, cell2d)``: in-plane positions (A) of an n x m graphene supercell.

    ``shift_frac`` shifts the sheet by that fraction of the *primitive* vectors.
    """
    a = graphene_lattice_A(cc_bond_A)
    a1 = np.array([a, 0.0])
    a2 = np.array([0.5 * a, 0.5 * np.sqrt(3.0) * a])
    basis = np.array([[0.0, 0.0], [1.0 / 3.0, 1.0 / 3.0]]) + np.asarray(shift_frac)
    xy = []
    for i in range(n):
        for j in range(m):
            for b in basis:
                f = np.array([i + b[0], j + b[1]])
                xy.append(f[0] * a1 + f[1] * a2)
    cell2d = np.array([n * a1, m * a2])
    xy = np.array(xy)
    # wrap into the cell (fractional coordinates in [0, 1))
    frac = np.linalg.solve(cell2d.T, xy.T).T
    frac -= np.floor(frac + 1e-12)
    return frac @ cell2d, cell2d


def graphene_bilayer(
    spacing_nm: float,
    supercell: tuple[int, int] = (4, 4),
    stacking: str = "AB",
    vacuum_A: float = DEFAULT_VACUUM_A,
    cc_bond_A: float = CC_BOND_A,
) -> Atoms:
    """Two parallel graphene walls ``spacing_nm`` apart (measured between the carbon planes).

    Args:
        spacing_nm: wall-to-wall distance between the two carbon planes, nm (0.30-5.0).
        supercell: lateral repetition (n, m) of the hexagonal graphene cell; (4, 4) gives
            32 C per sheet and a = 9.84 A.
        stacking: "AB" (Bernal, default) or "AA".
        vacuum_A: vacuum between the outer faces of the walls across the periodic boundary, A.
        cc_bond_A: C-C bond length, A.

    Returns:
        ``Atoms`` with wall tags (1 lower, 2 upper), the ``"wall"`` array, carbon frozen by
        ``FixAtoms`` and ``info`` keys ``pore_kind``, ``spacing_nm``, ``stacking``,
        ``supercell``.
    """
    n, m = _check_common(spacing_nm, supercell, vacuum_A, cc_bond_A)
    stacking = str(stacking).upper()
    if stacking not in STACKINGS:
        raise NafillInputError(f"stacking = {stacking!r} must be one of {', '.join(STACKINGS)}")
    spacing_A = float(spacing_nm) * NM_TO_A
    z_low = 0.5 * vacuum_A
    z_up = z_low + spacing_A
    xy_low, cell2d = hexagonal_sheet_positions(n, m, cc_bond_A)
    shift = (1.0 / 3.0, 1.0 / 3.0) if stacking == "AB" else (0.0, 0.0)
    xy_up, _ = hexagonal_sheet_positions(n, m, cc_bond_A, shift)
    pos = np.vstack(
        [
            np.column_stack([xy_low, np.full(len(xy_low), z_low)]),
            np.column_stack([xy_up, np.full(len(xy_up), z_up)]),
        ]
    )
    cell = np.zeros((3, 3))
    cell[0, :2] = cell2d[0]
    cell[1, :2] = cell2d[1]
    cell[2, 2] = spacing_A + vacuum_A
    walls = np.array([TAG_LOWER_WALL] * len(xy_low) + [TAG_UPPER_WALL] * len(xy_up))
    atoms = Atoms("C" * len(pos), positions=pos, cell=cell, pbc=True)
    atoms.set_tags(walls)
    atoms.set_array(WALL_ARRAY, walls.astype(int))
    atoms.set_constraint(FixAtoms(indices=np.arange(len(atoms))))
    atoms.info.update(
        pore_kind="bilayer",
        spacing_nm=float(spacing_nm),
        stacking=stacking,
        supercell=f"{n}x{m}",
        vacuum_A=float(vacuum_A),
    )
    return atoms
