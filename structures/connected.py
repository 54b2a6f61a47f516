"""Connected (stage-wise) pores: a narrow part joined to wider cavities in one periodic cell.

Geometry
--------
The cell is orthorhombic: x runs along the graphene zigzag direction (period sqrt(3) d_CC),
y along the armchair direction (period 3 d_CC). The lower wall is one continuous periodic
graphene sheet. The upper wall is made of graphene ribbons, one per section, each at its own
height ``spacing_i`` above the lower wall and spanning the section's x range. Where a ribbon
ends, its (armchair) edge carbons are passivated with H (C-H 1.09 A, in plane, pointing away
from the ribbon), so every C has three neighbours within 1.7 A counting H.

Sections are laid out along x in the order given (narrow first); the cell is periodic, so the
last section also meets the first. Where two ribbons meet there is a vertical step of
``spacing_j - spacing_i`` between the sheets: the model is a stepped slit, closed along z by the
walls, with the step open between sections as in the published stage-wise models. Every atom of
a ribbon (and its H) carries the section index in the ``"section"`` array (lower wall: -1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from nafill.constants import (
    CC_BOND_A,
    CH_BOND_A,
    DEFAULT_VACUUM_A,
    NM_TO_A,
    SECTION_ARRAY,
    SPACING_MAX_NM,
    SPACING_MIN_NM,
    TAG_LOWER_WALL,
    TAG_UPPER_WALL,
    WALL_ARRAY,
)
from nafill.errors import NafillInputError, check_int, check_range

MIN_STEP_NM = 0.15
"""Consecutive sections must differ in spacing by at least this much (nm)."""


def rectangular_sheet(
    nx: int, ny: int, cc_bond_A: float = CC_BOND_A, shift_A: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """In-plane positions (A) of an orthorhombic graphene sheet of nx x ny 4-atom cells.

    Returns ``(xy, (Lx, Ly))``; x is the zigzag direction (period sqrt(3) d), y the armchair
    direction (period 3 d).
    """
    d = cc_bond_A
    ax, ay = np.sqrt(3.0) * d, 3.0 * d
    basis = np.array([[0.0, 0.0], [ax / 2, d / 2], [ax / 2, 1.5 * d], [0.0, 2.0 * d]])
    xy = np.array(
        [b + np.array([i * ax, j * ay]) for i in range(nx) for j in range(ny) for b in basis]
    )
    xy = xy + np.asarray(shift_A)
    L = np.array([nx * ax, ny * ay])
    xy = np.mod(xy, L)
    return xy, L


def passivate_edges(
    positions: np.ndarray, cell: np.ndarray, pbc: Sequence[bool], cc_bond_A: float = CC_BOND_A
) -> tuple[np.ndarray, np.ndarray]:
    """Trim under-coordinated carbons of a sheet fragment and cap the rest with H.

    Carbons with fewer than two C neighbours (within 1.25 d_CC) are removed repeatedly; each
    carbon left with two neighbours gets one H at ``CH_BOND_A`` along the bisector pointing away
    from its neighbours. Returns ``(carbon_positions, hydrogen_positions)``.
    """
    pos = np.asarray(positions, float)
    cutoff = 1.25 * cc_bond_A
    while True:
        frag = Atoms("C" * len(pos), positions=pos, cell=cell, pbc=pbc)
        i = neighbor_list("i", frag, cutoff)
        counts = np.bincount(i, minlength=len(pos))
        keep = counts >= 2
        if keep.all():
            break
        pos = pos[keep]
    i, D = neighbor_list("iD", frag, cutoff)
    h = []
    for a in np.where(counts == 2)[0]:
        v = -D[i == a].sum(axis=0)
        v /= np.linalg.norm(v)
        h.append(pos[a] + CH_BOND_A * v)
    return pos, np.array(h).reshape(-1, 3)


def connected_pore(
    spacings_nm: Sequence[float],
    section_widths_A: Sequence[float] | float = 15.0,
    ny: int = 3,
    stacking: str = "AB",
    vacuum_A: float = DEFAULT_VACUUM_A,
    cc_bond_A: float = CC_BOND_A,
) -> Atoms:
    """A stage-wise pore: sections of increasing spacing joined along x in one periodic cell.

    Args:
        spacings_nm: wall spacing of each section, nm, strictly increasing by at least 0.15 nm,
            e.g. ``(0.5, 1.2)`` (orifice + cavity), ``(1.2, 1.82)`` or ``(0.5, 1.2, 1.82)``.
        section_widths_A: width along x of each section (or one width for all), A; rounded to
            a whole number of zigzag periods (2.46 A), at least 4 periods.
        ny: number of 4-atom rectangular cells along y (period 4.26 A each), 1..20.
        stacking: "AB" (ribbons shifted by one bond along y) or "AA".
        vacuum_A: vacuum above the highest ribbon (through the periodic image), A.
        cc_bond_A: C-C bond, A.

    Returns:
        ``Atoms`` with C (and edge H) tagged by wall, a ``"section"`` array, the host frozen with
        ``FixAtoms``, and ``info`` keys ``pore_kind="connected"``, ``section_spacings_nm``,
        ``section_bounds_A`` (x ranges, comma separated).
    """
    spacings = [check_range("spacings_nm", s, SPACING_MIN_NM, SPACING_MAX_NM, "nm") for s in spacings_nm]
    if not 2 <= len(spacings) <= 4:
        raise NafillInputError(
            f"spacings_nm = {list(spacings_nm)} must list 2 to 4 section spacings (narrow first)"
        )
    for a, b in zip(spacings, spacings[1:]):
        if b - a < MIN_STEP_NM - 1e-12:
            raise NafillInputError(
                f"spacings_nm = {list(spacings_nm)} must increase by at least {MIN_STEP_NM} nm "
                f"from one section to the next ({a:g} -> {b:g})"
            )
    if np.ndim(section_widths_A) == 0:
        widths = [float(section_widths_A)] * len(spacings)
    else:
        widths = [float(w) for w in section_widths_A]
    if len(widths) != len(spacings):
        raise NafillInputError(
            f"section_widths_A = {widths} must give one width per section ({len(spacings)})"
        )
    ax = np.sqrt(3.0) * cc_bond_A
    nxs = []
    for w in widths:
        check_range("section_widths_A", w, 4 * ax, 200.0, "A")
        nxs.append(int(round(w / ax)))
    ny = check_int("ny", ny, 1, 20)
    stacking = str(stacking).upper()
    if stacking not in ("AB", "AA"):
        raise NafillInputError(f"stacking = {stacking!r} must be one of AB, AA")
    check_range("vacuum_A", vacuum_A, 5.0, 100.0, "A")

    nx_total = sum(nxs)
    lower_xy, L = rectangular_sheet(nx_total, ny, cc_bond_A)
    z_low = 0.5 * vacuum_A
    cell = np.diag([L[0], L[1], max(spacings) * NM_TO_A + vacuum_A])
    shift = (0.0, cc_bond_A) if stacking == "AB" else (0.0, 0.0)
    upper_xy, _ = rectangular_sheet(nx_total, ny, cc_bond_A, shift)

    symbols: list[str] = ["C"] * len(lower_xy)
    positions = [np.column_stack([lower_xy, np.full(len(lower_xy), z_low)])]
    walls = [TAG_LOWER_WALL] * len(lower_xy)
    sections = [-1] * len(lower_xy)
    bounds = []
    x0 = 0.0
    # shift the cut by a quarter period so it falls between atom columns
    eps = 0.25 * ax
    for k, (s, nx) in enumerate(zip(spacings, nxs)):
        x1 = x0 + nx * ax
        sel = (upper_xy[:, 0] >= x0 - eps) & (upper_xy[:, 0] < x1 - eps)
        z = z_low + s * NM_TO_A
        rib = np.column_stack([upper_xy[sel], np.full(sel.sum(), z)])
        c_pos, h_pos = passivate_edges(rib, cell, (True, True, False), cc_bond_A)
        positions += [c_pos, h_pos]
        symbols += ["C"] * len(c_pos) + ["H"] * len(h_pos)
        walls += [TAG_UPPER_WALL] * (len(c_pos) + len(h_pos))
        sections += [k] * (len(c_pos) + len(h_pos))
        bounds.append((x0 - eps, x1 - eps))
        x0 = x1
    atoms = Atoms(symbols, positions=np.vstack(positions), cell=cell, pbc=True)
    atoms.wrap()
    walls_arr = np.array(walls, int)
    atoms.set_tags(walls_arr)
    atoms.set_array(WALL_ARRAY, walls_arr)
    atoms.set_array(SECTION_ARRAY, np.array(sections, int))
    atoms.set_constraint(FixAtoms(indices=np.arange(len(atoms))))
    atoms.info.update(
        pore_kind="connected",
        section_spacings_nm=",".join(f"{s:g}" for s in spacings),
        section_bounds_A=",".join(f"{a:.4f}:{b:.4f}" for a, b in bounds),
        stacking=stacking,
        vacuum_A=float(vacuum_A),
    )
    return atoms


def section_bounds_A(atoms: Atoms) -> list[tuple[float, float]]:
    """x ranges (A) of the sections of a connected pore, in build order ([] for other hosts)."""
    bounds = atoms.info.get("section_bounds_A")
    if not bounds:
        return []
    return [tuple(float(v) for v in b.split(":")) for b in str(bounds).split(",")]  # type: ignore[misc]


def section_spacings_nm(atoms: Atoms) -> list[float]:
    """Wall spacing (nm) of each section of a connected pore, in build order ([] for other hosts)."""
    text = atoms.info.get("section_spacings_nm")
    return [float(v) for v in str(text).split(",")] if text else []


def section_of(atoms: Atoms, points) -> np.ndarray:
    """Section index of each point (A) of a connected pore from its x coordinate (periodic along
    x); -1 everywhere for a host without sections."""
    pts = np.atleast_2d(np.asarray(points, float))
    bounds = section_bounds_A(atoms)
    if not bounds or len(pts) == 0:
        return np.full(len(pts), -1, int)
    lx = float(atoms.cell[0, 0])
    start = bounds[0][0]
    x = np.mod(pts[:, 0] - start, lx) + start  # into [start, start + Lx)
    out = np.full(len(pts), len(bounds) - 1, int)
    for k in range(len(bounds) - 1, -1, -1):
        out[x < bounds[k][1]] = k
    return out

