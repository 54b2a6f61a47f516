"""Bader charges of the Na atoms: Henkelman's ``bader`` when on PATH, else a pure-numpy route.

The pure route is the on-grid steepest-ascent algorithm (Henkelman, Arnaldsson, Jonsson,
Comput. Mater. Sci. 36, 354 (2006)): every grid point points to the neighbour (of 26, periodic)
with the steepest density ascent; following the pointers (by pointer doubling, vectorised) ends at
a density maximum; points sharing a maximum form a Bader volume, assigned to the atom nearest to
its maximum. Points below ``vacuum_density`` (e/A^3) are vacuum. The Na valence is
``ZVAL(Na_pv) - charge`` (electrons given up per Na).

Basins are taken from the all-electron reference density (AECCAR0 + AECCAR2) when both files are
there, and the valence density (CHGCAR) is integrated over them, as ``bader CHGCAR -ref CHGCAR_sum``.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ZVAL_NA_PV = 7.0


def _steepest_neighbour(rho: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Flat index of each point's steepest-ascent neighbour (itself at a maximum)."""
    shape = rho.shape
    n = rho.size
    idx = np.arange(n).reshape(shape)
    best = np.zeros(shape)
    target = idx.copy()
    spacing = cell / np.array(shape)[:, None]  # grid step vectors (rows), A
    for d in itertools.product((-1, 0, 1), repeat=3):
        if d == (0, 0, 0):
            continue
        dist = np.linalg.norm(np.asarray(d, float) @ spacing)
        shifted = np.roll(rho, shift=tuple(-x for x in d), axis=(0, 1, 2))  # rho at point + d
        grad = (shifted - rho) / dist
        better = grad > best
        best = np.where(better, grad, best)
        target = np.where(better, np.roll(idx, shift=tuple(-x for x in d), axis=(0, 1, 2)), target)
    return target.ravel()


def bader_volumes(rho: np.ndarray, cell: np.ndarray, vacuum_density: float = 1e-3) -> np.ndarray:
    """Label of the density maximum (flat index) each grid point climbs to; -1 for vacuum."""
    nxt = _steepest_neighbour(rho, cell)
    while True:
        jumped = nxt[nxt]
        if np.array_equal(jumped, nxt):
            break
        nxt = jumped
    labels = nxt.copy()
    labels[rho.ravel() < vacuum_density] = -1
    return labels


def bader_charges_numpy(
    valence_data: np.ndarray,
    cell: np.ndarray,
    frac_positions: np.ndarray,
    reference_data: np.ndarray | None = None,
    vacuum_density: float = 1e-3,
) -> np.ndarray:
    """Bader charge (electrons) of every atom from VASP-style grid data (rho * V_cell).

    Args:
        valence_data: CHGCAR "total" array (density times cell volume).
        cell: lattice vectors (rows), A.
        frac_positions: fractional positions of the atoms.
        reference_data: density used to find the basins (AECCAR0 + AECCAR2), default the valence.
        vacuum_density: points below this density (e/A^3) belong to no atom.
    """
    volume = abs(np.linalg.det(cell))
    ref = valence_data if reference_data is None else reference_data
    labels = bader_volumes(ref / volume, cell, vacuum_density)
    shape = valence_data.shape
    n_pts = valence_data.size
    maxima = np.unique(labels[labels >= 0])
    # fractional coordinates of each maximum and the nearest atom (minimum image)
    mi = np.array(np.unravel_index(maxima, shape)).T / np.array(shape)
    d = mi[:, None, :] - np.asarray(frac_positions)[None, :, :]
    d -= np.round(d)
    owner = np.linalg.norm(d @ cell, axis=2).argmin(axis=1)
    per_max = np.bincount(np.searchsorted(maxima, labels[labels >= 0]),
                          weights=valence_data.ravel()[labels >= 0], minlength=len(maxima)) / n_pts
    return np.bincount(owner, weights=per_max, minlength=len(frac_positions))


def na_valence_from_directory(directory: str | Path, na_indices: list[int] | None = None) -> float | None:
    """Average Bader valence of the Na atoms from CHGCAR (and AECCAR0/2) in ``directory``.

    Uses Henkelman's ``bader`` through pymatgen when it is on PATH, the numpy route otherwise.
    Returns None when there is no CHGCAR.
    """
    from pymatgen.io.vasp.outputs import Chgcar

    directory = Path(directory)
    chgcar_path = directory / "CHGCAR"
    if not chgcar_path.is_file():
        return None
    chg = Chgcar.from_file(str(chgcar_path))
    structure = chg.structure
    if na_indices is None:
        na_indices = [i for i, s in enumerate(structure) if s.specie.symbol == "Na"]
    if not na_indices:
        return None
    ae0, ae2 = directory / "AECCAR0", directory / "AECCAR2"
    if shutil.which("bader"):
        from pymatgen.command_line.bader_caller import BaderAnalysis

        kw = {"chgref_filename": None}
        if ae0.is_file() and ae2.is_file():
            ref = Chgcar.from_file(str(ae0)).linear_add(Chgcar.from_file(str(ae2)))
            ref.write_file(str(directory / "CHGCAR_sum"))
            kw["chgref_filename"] = str(directory / "CHGCAR_sum")
        ba = BaderAnalysis(chgcar_filename=str(chgcar_path), **kw)
        charges = np.array([ba.get_charge(i) for i in range(len(structure))])
    else:
        ref = None
        if ae0.is_file() and ae2.is_file():
            ref = Chgcar.from_file(str(ae0)).data["total"] + Chgcar.from_file(str(ae2)).data["total"]
        charges = bader_charges_numpy(chg.data["total"], structure.lattice.matrix, structure.frac_coords, ref)
    return float(np.mean([ZVAL_NA_PV - charges[i] for i in na_indices]))


def synthetic_density(
    cell: np.ndarray,
    frac_positions: np.ndarray,
    electrons: np.ndarray,
    widths_A: np.ndarray,
    grid: tuple[int, int, int],
) -> np.ndarray:
    """Sum of periodic Gaussians, one per atom, holding exactly ``electrons[i]`` on the grid.

    Returns VASP-style data (density times cell volume): ``data.sum() / data.size`` equals the
    total number of electrons, and each atom's Gaussian integrates to its own charge on the grid.
    """
    shape = tuple(int(g) for g in grid)
    n_pts = np.prod(shape)
    fr = [np.arange(n) / n for n in shape]
    gx, gy, gz = np.meshgrid(*fr, indexing="ij")
    pts = np.stack([gx, gy, gz], axis=-1)
    data = np.zeros(shape)
    for f, q, w in zip(frac_positions, electrons, widths_A):
        d = pts - np.asarray(f)
        d -= np.round(d)
        r2 = np.einsum("...i,...i->...", d @ cell, d @ cell)
        g = np.exp(-0.5 * r2 / w**2)
        data += q * g / g.sum() * n_pts
    return data
