"""Cavity and orifice models, and the bcc Na reference cell.

A *cavity* (0.8-2.2 nm) is where Na clusters grow; an *orifice* (0.37-0.7 nm) is the narrow
entrance where single Na ions sit between the walls. Both are graphene bilayers
(:func:`nafill.structures.graphene.graphene_bilayer`) at the requested spacing; only the
``pore_kind`` label and the advisory range differ. Any spacing in 0.30-5.0 nm is accepted;
outside that it is refused.
"""

from __future__ import annotations

import logging

from ase import Atoms
from ase.build import bulk

from nafill.constants import (
    CAVITY_RANGE_NM,
    CC_BOND_A,
    DEFAULT_VACUUM_A,
    NA_BCC_A_EXPT,
    ORIFICE_RANGE_NM,
    STANDARD_CAVITY_SPACINGS_NM,
)
from nafill.errors import NafillInputError, check_range, is_number
from nafill.structures.graphene import graphene_bilayer

log = logging.getLogger(__name__)


def standard_cavity_spacing_nm(name: str | int) -> float:
    """Spacing (nm) of a standard cavity named by its Na layer count.

    Accepts ``6``, ``"6"``, ``"6L"`` or ``"c182"``-style names (``"c082"`` ... ``"c218"``).
    """
    key = str(name).strip().upper()
    if key.startswith("C") and key[1:].isdigit():
        target = int(key[1:]) / 100.0
        for layers, s in STANDARD_CAVITY_SPACINGS_NM.items():
            if abs(s - target) < 1e-9:
                return s
    key = key.rstrip("L")
    if key.isdigit() and int(key) in STANDARD_CAVITY_SPACINGS_NM:
        return STANDARD_CAVITY_SPACINGS_NM[int(key)]
    allowed = ", ".join(f"{k}L={v:.2f} nm" for k, v in STANDARD_CAVITY_SPACINGS_NM.items())
    raise NafillInputError(f"standard cavity {name!r} is unknown; allowed: {allowed}")


def resolve_spacing_nm(spacing_nm: float | str) -> float:
    if isinstance(spacing_nm, str) and not is_number(spacing_nm):
        return standard_cavity_spacing_nm(spacing_nm)
    return float(spacing_nm)


def _bilayer_pore(kind: str, spacing_nm: float, usual_nm: tuple[float, float], supercell, stacking,
                  vacuum_A: float, cc_bond_A: float) -> Atoms:
    """A bilayer labelled ``kind``; spacings outside ``usual_nm`` are built and logged."""
    s = check_range("spacing_nm", spacing_nm, 0.30, 5.0, "nm")
    if not usual_nm[0] <= s <= usual_nm[1]:
        log.info("%s spacing %.3f nm is outside the usual range %s nm", kind, s, usual_nm)
    atoms = graphene_bilayer(s, supercell, stacking, vacuum_A, cc_bond_A)
    atoms.info["pore_kind"] = kind
    return atoms


def cavity(
    spacing_nm: float | str,
    supercell: tuple[int, int] = (4, 4),
    stacking: str = "AB",
    vacuum_A: float = DEFAULT_VACUUM_A,
    cc_bond_A: float = CC_BOND_A,
) -> Atoms:
    """A cavity: two graphene walls ``spacing_nm`` apart (or a standard name such as ``"6L"``).

    The standard cavity sizes (relaxed with 2..7 Na layers) are 0.82, 1.05, 1.19, 1.48, 1.82 and
    2.18 nm. Spacings outside 0.8-2.2 nm are built but logged as unusual for a cavity.
    """
    return _bilayer_pore("cavity", resolve_spacing_nm(spacing_nm), CAVITY_RANGE_NM, supercell, stacking,
                         vacuum_A, cc_bond_A)


def orifice(
    spacing_nm: float,
    supercell: tuple[int, int] = (4, 4),
    stacking: str = "AB",
    vacuum_A: float = DEFAULT_VACUUM_A,
    cc_bond_A: float = CC_BOND_A,
) -> Atoms:
    """An orifice: two graphene walls 0.37-0.7 nm apart where single Na intercalate.

    Spacings outside the usual orifice range (but within 0.30-5.0 nm) are built and logged.
    """
    return _bilayer_pore("orifice", spacing_nm, ORIFICE_RANGE_NM, supercell, stacking, vacuum_A, cc_bond_A)


def bcc_sodium(lattice_A: float = NA_BCC_A_EXPT, cubic: bool = False) -> Atoms:
    """Bulk bcc Na: the primitive 1-atom cell, or the conventional 2-atom cube.

    Args:
        lattice_A: cubic lattice constant a, A (default 4.23 A, experiment at low T).
        cubic: return the conventional cubic cell (2 atoms) instead of the primitive one.
    """
    a = check_range("lattice_A", lattice_A, 3.0, 6.0, "A")
    atoms = bulk("Na", "bcc", a=a, cubic=cubic)
    atoms.info["pore_kind"] = "bcc_na"
    atoms.info["lattice_A"] = a
    return atoms
