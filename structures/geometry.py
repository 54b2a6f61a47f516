"""Shared geometry of pore models: wall membership, local wall heights, distances.

Pure functions on ASE ``Atoms``; no I/O and no energies.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from ase.cell import Cell
from ase.geometry import complete_cell, minkowski_reduce, wrap_positions
from ase.utils import pbc2pbc

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


MIC_TIE_TOL = 1e-9
"""Relative width (of the squared length) within which two periodic images of one vector count as
possibly tied in :func:`find_mic` and are compared with ASE's own arithmetic."""


def find_mic(v: np.ndarray, cell, pbc=True) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image vectors and their lengths (A): ASE's ``ase.geometry.find_mic``, bit for bit.

    The same algorithm (the naive image where it is safe in a 3D-periodic cell, else the
    Voronoi-relevant images of the Minkowski-reduced cell, ties to the first image in ASE's
    order), but the images are compared by an inner product first, and only the images within
    :data:`MIC_TIE_TOL` of the shortest get ASE's own length arithmetic. ASE builds every image's
    vector for every input: 28 times the work, which made site generation in a 300-atom connected
    pore cost more than the energies."""
    cell = Cell(cell)
    pbc = cell.any(1) & pbc2pbc(pbc)
    v = np.asarray(v, float)
    single = v.ndim == 1
    v = np.atleast_2d(v)
    if not pbc.any():
        vmin, vlen = v.copy(), np.linalg.norm(v, axis=1)
    else:
        vmin, vlen = _reduced_cell_mic(v, np.array(cell), pbc)
        # ASE takes the naive image (W. Smith 1989) in a 3D-periodic cell when every naive length is
        # under half the shortest cell length; a naive length is never under the true one, so that
        # is only possible when every true length is
        if pbc.all() and (vlen < 0.5 * min(cell.lengths())).all():
            f = cell.scaled_positions(v)
            f -= np.floor(f + 0.5)
            naive = f @ cell
            naive_len = np.linalg.norm(naive, axis=1)
            if (naive_len < 0.5 * min(cell.lengths())).all():
                vmin, vlen = naive, naive_len
    return (vmin[0], vlen[0]) if single else (vmin, vlen)


def _reduced_cell_mic(v: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ASE's ``general_find_mic`` with the image search done on squared lengths by one product."""
    rcell, _ = minkowski_reduce(complete_cell(cell), pbc=pbc)
    positions = wrap_positions(v, rcell, pbc=pbc, eps=0)
    ranges = [np.arange(-1 * p, p + 1) for p in pbc]
    hkls = np.array([(0, 0, 0)] + list(itertools.product(*ranges)))
    vrvecs = hkls @ rcell
    # |p + r|^2 = |p|^2 + 2 p.r + |r|^2 for every image at once; rounding well under the tolerance
    sq = (positions * positions).sum(1)[:, None] + 2.0 * positions @ vrvecs.T + (vrvecs * vrvecs).sum(1)[None]
    best = sq.min(axis=1)
    close = sq <= best[:, None] + MIC_TIE_TOL * np.maximum(1.0, best[:, None])
    pick = close.argmax(axis=1)  # the first close image; the only one unless the images nearly tie
    vmin = positions + vrvecs[pick]
    vlen = np.linalg.norm(vmin, axis=1)
    tied = np.nonzero(close.sum(axis=1) > 1)[0]
    if len(tied):  # ASE's own comparison among the near-tied images
        x = positions[tied] + vrvecs[:, None]
        lengths = np.linalg.norm(x, axis=2)
        lengths[~close[tied].T] = np.inf
        idx = np.argmin(lengths, axis=0)
        vmin[tied] = x[idx, np.arange(len(tied))]
        vlen[tied] = lengths[idx, np.arange(len(tied))]
    return vmin, vlen


def get_distances(p1: np.ndarray, p2: np.ndarray | None = None, cell=None, pbc=None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image vectors (A) from every point of ``p1`` to every point of ``p2`` (to every other
    point of ``p1`` when ``p2`` is None) and their lengths: ``ase.geometry.get_distances``, bit for
    bit, with :func:`find_mic` (the one distance function of the builders)."""
    if (cell is None) != (pbc is None):
        raise ValueError("cell or pbc must be both set or both be None")
    p1 = np.atleast_2d(p1)
    if p2 is None:
        np1 = len(p1)
        ind1, ind2 = np.triu_indices(np1, k=1)
        D = p1[ind2] - p1[ind1]
    else:
        p2 = np.atleast_2d(p2)
        D = (p2[np.newaxis, :, :] - p1[:, np.newaxis, :]).reshape((-1, 3))
    if cell is not None:
        D, D_len = find_mic(D, cell, pbc)
    else:
        D_len = np.sqrt(np.add.reduce(D**2, axis=-1))
    if p2 is None:
        Dout = np.zeros((np1, np1, 3))
        Dout[(ind1, ind2)] = D
        Dout -= np.transpose(Dout, axes=(1, 0, 2))
        Dout_len = np.zeros((np1, np1))
        Dout_len[(ind1, ind2)] = D_len
        Dout_len += Dout_len.T
        return Dout, Dout_len
    return D.reshape(-1, len(p2), 3), D_len.reshape(-1, len(p2))


def mic_pairs_within(
    p1: np.ndarray, p2: np.ndarray, cell, pbc, cutoff_A: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, d)`` with the minimum-image distance ``d`` (A) from ``p1[i]`` to ``p2[j]``
    under ``cutoff_A``, sorted by ``i``, then ``j``: one image per pair (the shortest), where the
    calculators' ``pairs_within`` (:mod:`nafill.workflows.backends.emt_surrogate`) returns every
    image within a cutoff.

    A pair whose image that short exists has, along every cell direction k, a fractional
    component within ``cutoff_A * |b_k|`` of an integer (``b_k`` the reciprocal vector; of zero where
    k is not periodic), so only the pairs passing that test get :func:`find_mic`'s search: for
    candidate sites against the host at 2.0-2.6 A, 0.1-3 % of the pairs in the 1.82 nm 4x4 cavity
    and in the 0.5+1.82 nm connected pore; against the walls in the plane (local wall heights, 2.6
    A), 38 % and 7 %. A length within an ulp of the cutoff may compare otherwise than on the whole
    set (which image rule :func:`find_mic` takes depends on every vector it is given)."""
    p1 = np.atleast_2d(np.asarray(p1, float))
    p2 = np.atleast_2d(np.asarray(p2, float))
    cell = Cell(cell)
    pbc = cell.any(1) & pbc2pbc(pbc)
    D = p2[None, :, :] - p1[:, None, :]
    if pbc.any():
        full = complete_cell(np.array(cell))
        recip = np.linalg.inv(full)  # columns: the reciprocal vectors b_k (without 2 pi)
        frac = D @ recip
        keep = np.ones(D.shape[:2], bool)
        for k in range(3):
            bound = cutoff_A * np.linalg.norm(recip[:, k]) * (1.0 + 1e-9) + 1e-12
            f = frac[..., k] - np.round(frac[..., k]) if pbc[k] else frac[..., k]
            if bound < 0.5 or not pbc[k]:
                keep &= np.abs(f) < bound
        i, j = np.nonzero(keep)
        if len(i) == 0:
            return i, j, np.zeros(0)
        _, d = find_mic(D[i, j], cell, pbc)
    else:
        i, j = np.indices(D.shape[:2]).reshape(2, -1)
        d = np.linalg.norm(D.reshape(-1, 3), axis=1)
    close = d < cutoff_A
    return i[close], j[close], d[close]


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
    for label, out, pick, none in ((TAG_LOWER_WALL, lo, np.maximum, -np.inf), (TAG_UPPER_WALL, hi, np.minimum, np.inf)):
        idx = np.where(labels == label)[0]
        if len(idx) == 0:
            continue
        flat = points.copy()
        wall_pos = atoms.positions[idx].copy()
        flat[:, 2] = 0.0
        wall_pos[:, 2] = 0.0
        i, j, _ = mic_pairs_within(flat, wall_pos, atoms.cell, atoms.pbc, radius_A)
        z = np.full(len(points), none)
        pick.at(z, i, atoms.positions[idx[j], 2])
        found = np.isfinite(z)
        out[found] = z[found]
    return lo, hi


def min_distances(atoms: Atoms, points: np.ndarray, indices: np.ndarray, cutoff_A: float | None = None) -> np.ndarray:
    """Minimum-image distance (A) from each point to the nearest of ``atoms[indices]``.

    ``cutoff_A``: only distances under it are found (:func:`mic_pairs_within`, much faster on many
    points), ``inf`` where none is; enough for a test such as ``d >= 2.0`` with ``cutoff_A=2.0``."""
    points = np.atleast_2d(np.asarray(points, float))
    if len(indices) == 0:
        return np.full(len(points), np.inf)
    if cutoff_A is not None:
        i, _, d = mic_pairs_within(points, atoms.positions[indices], atoms.cell, atoms.pbc, cutoff_A)
        out = np.full(len(points), np.inf)
        np.minimum.at(out, i, d)
        return out
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
