"""Theoretical pore capacity: how many Na fit at bcc-metal density.

Excluded volume near the walls
------------------------------
Na next to graphene sits about ``h = 2.4 A`` above the carbon plane, and a (110) layer of bcc Na
"owns" half its interplanar distance ``d110/2 = a/(2 sqrt 2) = 1.5 A`` on either side. The volume
available to metallic Na is therefore the slab between the walls less a layer
``delta = h - d110/2 = 0.9 A`` thick on each wall:

    N_theory = floor( A_lateral * (d - 2 delta) / (a^3 / 2) )

with ``A_lateral`` the lateral cell area, ``d`` the carbon-plane spacing and ``a^3/2`` the
volume per atom of bcc Na. With this convention the Na-layer models reproduce their own counts
(2 layers in 0.82 nm: 14 Na per 4x4 cell). It is a packing count, not an energetic one: it says
nothing about whether the Na is stable there (it is not in graphite's 0.335 nm galleries).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms

from nafill.constants import NA_BCC_A_EXPT, NA_WALL_HEIGHT_A, NM_TO_A
from nafill.errors import check_range
from nafill.structures.connected import section_bounds_A
from nafill.structures.geometry import wall_spacings_A

WALL_EXCLUSION_A = NA_WALL_HEIGHT_A - NA_BCC_A_EXPT / (2.0 * math.sqrt(2.0))
"""Thickness delta (A) excluded next to each wall (0.9 A); see the module docstring."""


def theoretical_capacity(
    spacing_nm: float,
    area_A2: float,
    lattice_A: float = NA_BCC_A_EXPT,
    wall_exclusion_A: float = WALL_EXCLUSION_A,
) -> int:
    """Number of Na that fit at bcc density in a slit pore.

    Args:
        spacing_nm: carbon-plane spacing d, nm.
        area_A2: lateral area of the pore, A^2 (83.85 A^2 for the 4x4 graphene cell).
        lattice_A: bcc Na lattice constant a, A.
        wall_exclusion_A: layer excluded next to each wall, A.
    """
    check_range("spacing_nm", spacing_nm, 0.0, None, "nm")
    check_range("area_A2", area_A2, 0.0, None, "A^2", lo_inclusive=False)
    width = spacing_nm * NM_TO_A - 2.0 * wall_exclusion_A
    if width <= 0:
        return 0
    return int(math.floor(area_A2 * width / (lattice_A**3 / 2.0) + 1e-9))


def section_capacities(atoms: Atoms, lattice_A: float = NA_BCC_A_EXPT) -> list[int]:
    """Theoretical capacity (Na count) of each section of a connected pore, in build order
    (section width x cell length along y x the section's spacing); ``[]`` for other hosts."""
    spacings = wall_spacings_A(atoms)
    bounds = section_bounds_A(atoms)
    if not bounds or len(spacings) < 2:
        return []
    ly = float(np.linalg.norm(atoms.cell[1]))
    return [theoretical_capacity(s / NM_TO_A, (hi - lo) * ly, lattice_A) for (lo, hi), s in zip(bounds, spacings)]


def pore_capacity(atoms: Atoms, lattice_A: float = NA_BCC_A_EXPT) -> int:
    """Theoretical capacity (Na count) of a pore model from the builders.

    Bilayers (cavity, orifice): the cell's lateral area and the measured wall spacing.
    Connected pores: the sum over sections (:func:`section_capacities`).
    """
    per_section = section_capacities(atoms, lattice_A)
    if per_section:
        return sum(per_section)
    spacings = wall_spacings_A(atoms)
    lateral = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    return theoretical_capacity(float(spacings[0]) / NM_TO_A, lateral, lattice_A)
