"""Shared geometry of pore models: wall membership, local wall heights, distances.

Pure functions on ASE ``Atoms``; no I/O and no energies.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from nafill.constants import TAG_GUEST, TAG_LOWER_WALL, TAG_UPPER_WALL, WALL_ARRAY


def guest_indices(atoms: Atoms, symbol: str = "Na") -> np.ndarray:
    """Indices of the guest atoms (default Na)."""
    return np.array([i for i, s in enumerate(atoms.get_chemical_symbols()) if s == symbol], int)


def host_indices(atoms: Atoms, symbol: str = "Na") -> np.ndarray:
    """Indices of every atom that is not a guest (carbon, edge H, defect O ...)."""
    return np.array([i for i, s in enumerate(atoms.get_chemical_symbols()) if s != symbol], int)


def wall_labels(atoms: Atoms) -> np.ndarray:
    """Per-atom wall index (0 guest, 1 lower, 2 upper).

    Uses the ``"wall"`` array when present, else the tags when they hold wall labels, else
    infers it from the coordinates (:func:`infer_walls`), e.g. for a POSCAR read back.
    """
    if WALL_ARRAY in atoms.arrays:
        return np.asarray(atoms.arrays[WALL_ARRAY], int)
    tags = atoms.get_tags()
    host = host_indices(atoms)
    if len(host) and set(np.unique(tags[host])) <= {TAG_LOWER_WALL, TAG_UPPER_WALL} and (
        tags[host] == TAG_LOWER_WALL
    ).any():
        return np.where(np.isin(np.arange(len(atoms)), host), tags, TAG_GUEST).astype(int)
    return infer_walls(atoms)


def infer_walls(atoms: Atoms, gap_A: float = 1.0) -> np.ndarray:
    """Infer wall labels from z: host atoms are grouped into sheets (gaps > ``gap_A``).

    The lowest sheet (with any atoms bonded on top of it) is the lower wall; all higher sheets
    are upper walls. Valid for nafill's geometries (flat lower wall).
    """
    labels = np.zeros(len(atoms), int)
    host = host_indices(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    carbon = host[sym[host] == "C"]
    if len(carbon) == 0:
        return labels
    z = atoms.positions[carbon, 2]
    order = np.argsort(z)
    breaks = np.where(np.diff(z[order]) > gap_A)[0]
    first_group_end = breaks[0] + 1 if len(breaks) else len(z)
    labels[carbon] = TAG_UPPER_WALL
    labels[carbon[order[:first_group_end]]] = TAG_LOWER_WALL
    # H, O ... belong to the wall of their nearest carbon
    others = host[sym[host] != "C"]
    if len(others):
        _, d = get_distances(
            atoms.positions[others], atoms.positions[carbon], cell=atoms.cell, pbc=atoms.pbc
        )
        labels[others] = labels[carbon[d.argmin(axis=1)]]
    return labels


def local_wall_bounds(
    atoms: Atoms, points: np.ndarray, radius_A: float = 2.6
) -> tuple[np.ndarray, np.ndarray]:
    """Heights (A) of the lower and upper wall directly below/above each point.

    For every point, the lower bound is the highest lower-wall atom and the upper bound the
    lowest upper-wall atom within ``radius_A`` in the xy plane (periodic images included).
    NaN where no wall atom lies within that radius (e.g. at the step of a connected pore).
    """
    points = np.atleast_2d(np.asarray(points, float))
    labels = wall_labels(atoms)
    lo = np.full(len(points), np.nan)
    hi = np.full(len(points), np.nan)
    for label, out, pick in ((TAG_LOWER_WALL, lo, np.max), (TAG_UPPER_WALL, hi, np.min)):
        idx = np.where(labels == label)[0]
        if len(idx) == 0:
            continue
        flat = points.copy()
        wall_pos = atoms.positions[idx].copy()
        flat[:, 2] = 0.0
        wall_pos[:, 2] = 0.0
        _, d = get_distances(flat, wall_pos, cell=atoms.cell, pbc=atoms.pbc)
        for k in range(len(points)):
            near = d[k] < radius_A
            if near.any():
                out[k] = pick(atoms.positions[idx[near], 2])
    return lo, hi


def min_distances(atoms: Atoms, points: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Minimum-image distance (A) from each point to the nearest of ``atoms[indices]``."""
    points = np.atleast_2d(np.asarray(points, float))
    if len(indices) == 0:
        return np.full(len(points), np.inf)
    _, d = get_distances(points, atoms.positions[indices], cell=atoms.cell, pbc=atoms.pbc)
    return d.min(axis=1)


def between_walls(atoms: Atoms, points: np.ndarray, margin_A: float = 0.0) -> np.ndarray:
    """True where a point lies strictly between a lower and an upper wall (with ``margin_A``)."""
    points = np.atleast_2d(np.asarray(points, float))
    lo, hi = local_wall_bounds(atoms, points)
    z = points[:, 2]
    with np.errstate(invalid="ignore"):
        return (z > lo + margin_A) & (z < hi - margin_A)


def wall_spacings_A(atoms: Atoms) -> np.ndarray:
    """Measured spacing (A) between each upper-wall sheet and the lower wall below it.

    Carbon atoms only; one value per distinct upper sheet height (sorted ascending).
    """
    labels = wall_labels(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    c_low = atoms.positions[(labels == TAG_LOWER_WALL) & (sym == "C"), 2]
    c_up = np.sort(atoms.positions[(labels == TAG_UPPER_WALL) & (sym == "C"), 2])
    if len(c_low) == 0 or len(c_up) == 0:
        return np.array([])
    groups = np.split(c_up, np.where(np.diff(c_up) > 0.5)[0] + 1)
    return np.array([g.mean() - c_low.mean() for g in groups])


def append_atom(atoms: Atoms, symbol: str, position: np.ndarray, wall: int = TAG_GUEST) -> Atoms:
    """Return a copy of ``atoms`` with one more atom at ``position`` (A).

    The new atom gets ``wall`` as tag and wall label; other per-atom arrays get 0 (``section``
    gets -1, "not in a section"). Constraints are kept as they are.
    """
    out = atoms.copy()
    extra = Atoms(symbol, positions=[np.asarray(position, float)], cell=atoms.cell, pbc=atoms.pbc)
    extra.set_tags([wall])
    for name, arr in atoms.arrays.items():
        if name in ("numbers", "positions") or name in extra.arrays:
            continue
        fill = wall if name == WALL_ARRAY else (-1 if name == "section" else 0)
        extra.set_array(name, np.full((1,) + arr.shape[1:], fill, dtype=arr.dtype))
    out.extend(extra)
    return out
