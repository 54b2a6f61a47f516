"""Internal defects on the inner face of a wall: vacancies, Stone-Wales, epoxide, hydroxyl.

Every function returns a new ``Atoms``; the defect's atoms (O, H) carry the wall tag of the
wall they sit on, and the whole host stays frozen. The site is the carbon of the chosen wall
nearest (in xy, periodic) to ``position_A``; the default position is the centre of the cell.
Groups (O, OH) point into the pore (+z on the lower wall, -z on the upper wall).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from nafill.constants import TAG_LOWER_WALL, TAG_UPPER_WALL, WALL_ARRAY
from nafill.errors import NafillInputError
from nafill.structures.geometry import append_atom, get_distances, host_indices, wall_labels

DEFECT_KINDS = ("vacancy", "divacancy", "stone-wales", "epoxide", "hydroxyl")
C_O_EPOXIDE_A = 1.46
C_O_HYDROXYL_A = 1.43
O_H_A = 0.97


def _wall_id(wall: str | int) -> int:
    w = str(wall).lower()
    if w in ("lower", "1", "bottom"):
        return TAG_LOWER_WALL
    if w in ("upper", "2", "top"):
        return TAG_UPPER_WALL
    raise NafillInputError(f"wall = {wall!r} must be 'lower' or 'upper'")


def _site(atoms: Atoms, wall: int, position_A: tuple[float, float] | None) -> tuple[int, np.ndarray]:
    labels = wall_labels(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    carbons = np.where((labels == wall) & (sym == "C"))[0]
    if len(carbons) == 0:
        raise NafillInputError(f"the structure has no carbon on wall {wall}")
    if position_A is None:
        xy = 0.5 * (atoms.cell[0] + atoms.cell[1])[:2]
    else:
        xy = np.asarray(position_A, float)[:2]
    p = np.array([[xy[0], xy[1], 0.0]])
    flat = atoms.positions[carbons].copy()
    flat[:, 2] = 0.0
    _, d = get_distances(p, flat, cell=atoms.cell, pbc=atoms.pbc)
    return int(carbons[d[0].argmin()]), carbons


def _nearest_carbon(atoms: Atoms, a: int, carbons: np.ndarray) -> tuple[int, np.ndarray]:
    others = carbons[carbons != a]
    D, d = get_distances(atoms.positions[a], atoms.positions[others], cell=atoms.cell, pbc=atoms.pbc)
    k = int(d[0].argmin())
    return int(others[k]), D[0, k]


def _finish(atoms: Atoms, kind: str) -> Atoms:
    labels = np.asarray(atoms.arrays[WALL_ARRAY], int)
    atoms.set_tags(labels)
    atoms.set_constraint(FixAtoms(indices=host_indices(atoms)))
    prev = atoms.info.get("defects", "")
    atoms.info["defects"] = f"{prev},{kind}" if prev else kind
    return atoms


def add_defect(
    atoms: Atoms,
    kind: str,
    wall: str | int = "lower",
    position_A: tuple[float, float] | None = None,
) -> Atoms:
    """Return a copy of ``atoms`` with one defect on the inner face of ``wall``.

    Args:
        atoms: a pore model from the builders (walls labelled).
        kind: one of ``vacancy``, ``divacancy``, ``stone-wales``, ``epoxide``, ``hydroxyl``.
        wall: ``"lower"`` or ``"upper"``.
        position_A: (x, y) in A near which the defect is placed; default the cell centre.
    """
    kind = str(kind).lower().replace("_", "-")
    if kind not in DEFECT_KINDS:
        raise NafillInputError(f"defect kind = {kind!r} must be one of {', '.join(DEFECT_KINDS)}")
    w = _wall_id(wall)
    out = atoms.copy()
    out.set_constraint()
    out.set_array(WALL_ARRAY, wall_labels(out))
    a, carbons = _site(out, w, position_A)
    inward = np.array([0.0, 0.0, 1.0 if w == TAG_LOWER_WALL else -1.0])

    if kind == "vacancy":
        del out[[a]]
    elif kind == "divacancy":
        b, _ = _nearest_carbon(out, a, carbons)
        del out[[a, b]]
    elif kind == "stone-wales":
        b, bond = _nearest_carbon(out, a, carbons)
        mid = out.positions[a] + 0.5 * bond
        half = 0.5 * bond
        rot = np.array([-half[1], half[0], 0.0])  # 90 degrees about z
        out.positions[a] = mid - rot
        out.positions[b] = mid + rot
    elif kind == "epoxide":
        b, bond = _nearest_carbon(out, a, carbons)
        mid = out.positions[a] + 0.5 * bond
        h = np.sqrt(max(C_O_EPOXIDE_A**2 - (0.5 * np.linalg.norm(bond)) ** 2, 0.5))
        out = append_atom(out, "O", mid + h * inward, w)
    elif kind == "hydroxyl":
        o = out.positions[a] + C_O_HYDROXYL_A * inward
        out = append_atom(out, "O", o, w)
        out = append_atom(out, "H", o + O_H_A * inward, w)
    out.wrap()
    return _finish(out, kind)
