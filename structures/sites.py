"""Candidate sites for the next Na ("energy-competing positions").

Given a host and its current Na, :func:`candidate_sites` proposes

* ``hollow``: above the centre of every carbon hexagon of each wall, ``height_A`` into the pore
  (hexagon centres are found as the midpoints of C-C pairs 2 d_CC apart, so defected walls work);
* ``midplane``: in narrow sections (local spacing below ``midplane_below_A``), on the mid-plane
  above each lower-wall hexagon centre;
* ``neighbour``: around every Na, at ``na_na_distance_A`` along ``n_directions`` directions (a
  Fibonacci sphere given a random rotation drawn from ``seed``),

then drops sites outside the pore or closer than ``min_host_distance_A`` to a host atom (C, H, O)
or ``min_na_distance_A`` to a Na, merges near-duplicates (``merge_tol_A``), and collapses sites
equivalent under the symmetry operations of the current structure (spglib on host + Na; two
candidates are equivalent when one operation maps one onto the other, which is the same as the
two host+Na+candidate structures being equivalent). Counts of every stage are reported.
Deterministic for a given seed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import spglib
from ase import Atoms
from ase.neighborlist import neighbor_list

from nafill.constants import (
    CC_BOND_A,
    NA_NN_DISTANCE_A,
    NA_WALL_HEIGHT_A,
    TAG_GUEST,
    TAG_LOWER_WALL,
    TAG_UPPER_WALL,
)
from nafill.errors import check_range
from nafill.structures.geometry import (
    append_atom,
    guest_indices,
    host_indices,
    local_wall_bounds,
    min_distances,
    mic_pairs_within,
    wall_labels,
)

SITE_KINDS = ("hollow", "midplane", "neighbour")


@dataclass
class CandidateSites:
    """Candidate positions for the next Na, with the bookkeeping of every reduction stage."""

    positions: np.ndarray
    """(n, 3) Cartesian positions, A, one per symmetry-distinct site."""
    kinds: list[str]
    """Generator of each site: hollow, midplane or neighbour."""
    multiplicity: list[int]
    """How many proposed sites each distinct site stands for (duplicates + symmetry images)."""
    n_proposed: int = 0
    """Sites generated before any filtering."""
    n_rejected: int = 0
    """Dropped as outside the pore or too close to a host atom or a Na."""
    n_duplicates: int = 0
    """Merged as near-duplicates (closer than merge_tol_A)."""
    n_symmetry_merged: int = 0
    """Merged as symmetry-equivalent."""
    n_symmetry_ops: int = 0
    """Number of symmetry operations of the current structure used for the merging."""
    counts_by_kind: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def n_before_symmetry(self) -> int:
        """Sites left after filtering and duplicate merging, before symmetry merging."""
        return len(self.positions) + self.n_symmetry_merged

    def summary(self) -> dict:
        """Plain-dict counts (JSON friendly)."""
        return {
            "n_proposed": self.n_proposed,
            "n_rejected": self.n_rejected,
            "n_duplicates": self.n_duplicates,
            "n_before_symmetry": self.n_before_symmetry,
            "n_symmetry_merged": self.n_symmetry_merged,
            "n_distinct": len(self.positions),
            "n_symmetry_ops": self.n_symmetry_ops,
            "by_kind": dict(self.counts_by_kind),
        }


def hexagon_centres(atoms: Atoms, wall: int, cc_bond_A: float = CC_BOND_A) -> np.ndarray:
    """Centres (A) of the carbon hexagons of one wall (midpoints of C-C pairs ~2 d_CC apart)."""
    labels = wall_labels(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    idx = np.where((labels == wall) & (sym == "C"))[0]
    if len(idx) == 0:
        return np.zeros((0, 3))
    sub = atoms[idx]
    sub.set_constraint()
    i, j, D, d = neighbor_list("ijDd", sub, 2.0 * cc_bond_A + 0.25)
    pick = (d > 2.0 * cc_bond_A - 0.25) & (i < j)
    mids = sub.positions[i[pick]] + 0.5 * D[pick]
    return _merge_points(mids, atoms.cell, atoms.pbc, 0.3)[0]


def _merge_points(
    points: np.ndarray, cell, pbc, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy, order-preserving merge of points closer than ``tol`` (periodic).

    Returns ``(kept_points, owner)`` where ``owner[k]`` is the index into ``kept_points`` that
    absorbed input point k.
    """
    points = np.asarray(points, float).reshape(-1, 3)
    if len(points) == 0:
        return points, np.zeros(0, int)
    i, j, _ = mic_pairs_within(points, points, cell, pbc, tol)  # sorted by i
    starts = np.searchsorted(i, np.arange(len(points) + 1))
    owner = -np.ones(len(points), int)
    kept = []
    for k in range(len(points)):
        if owner[k] >= 0:
            continue
        owner[k] = len(kept)
        close = j[starts[k]:starts[k + 1]]
        owner[close[owner[close] < 0]] = len(kept)
        kept.append(k)
    return points[kept], owner


def _fibonacci_sphere(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k
    return np.column_stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)])


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def symmetry_operations(atoms: Atoms, symprec_A: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (fractional, integer) and translations of the structure's space group (spglib).

    Atoms are distinguished by element only (wall tags are ignored).
    """
    cell = (np.array(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = spglib.get_symmetry(cell, symprec=symprec_A)
    if ds is None:
        return np.eye(3, dtype=int)[None], np.zeros((1, 3))
    return np.asarray(ds["rotations"]), np.asarray(ds["translations"])


def merge_symmetry_equivalent(
    atoms: Atoms, positions: np.ndarray, symprec_A: float = 0.01, tol_A: float = 0.1
) -> tuple[np.ndarray, np.ndarray, int]:
    """Group candidate positions related by a symmetry operation of ``atoms``.

    Returns ``(representatives, class_of, n_ops)``: indices of one representative per class
    (the lowest index), the class index of every position and the number of operations.
    """
    positions = np.asarray(positions, float).reshape(-1, 3)
    n = len(positions)
    rots, trans = symmetry_operations(atoms, symprec_A)
    if n == 0:
        return np.zeros(0, int), np.zeros(0, int), len(rots)
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    cell = np.array(atoms.cell)
    frac = np.linalg.solve(cell.T, positions.T).T
    for R, t in zip(rots, trans):
        img = frac @ R.T + t  # images of every candidate under this operation
        diff = img[:, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ cell, axis=2)
        a_idx, b_idx = np.nonzero(dist < tol_A)
        for a, b in zip(a_idx, b_idx):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(k) for k in range(n)])
    reps = np.unique(roots)
    class_of = np.searchsorted(reps, roots)
    return reps, class_of, len(rots)


_WALL_SITES: dict[bytes, tuple[np.ndarray, ...]] = {}
_WALL_SITES_KEPT = 8


def _wall_sites(atoms: Atoms, guest: str = "Na") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The host's part of :func:`candidate_sites`: hexagon centres of the lower and upper wall (A)
    and the local wall heights above the lower ones (:func:`local_wall_bounds`, A).

    They depend on the host alone, which a fill keeps frozen, so the last few hosts' results are
    kept (keyed by the host atoms' numbers, positions and wall labels, the cell and pbc); copies are
    returned."""
    host = host_indices(atoms, guest)
    labels = wall_labels(atoms)
    key = b"".join((atoms.numbers[host].tobytes(), atoms.positions[host].tobytes(), labels[host].tobytes(),
                    np.array(atoms.cell).tobytes(), np.asarray(atoms.pbc).tobytes()))
    if key not in _WALL_SITES:
        lower = hexagon_centres(atoms, TAG_LOWER_WALL)
        upper = hexagon_centres(atoms, TAG_UPPER_WALL)
        lo, hi = local_wall_bounds(atoms, lower) if len(lower) else (np.zeros(0), np.zeros(0))
        if len(_WALL_SITES) >= _WALL_SITES_KEPT:
            del _WALL_SITES[next(iter(_WALL_SITES))]
        _WALL_SITES[key] = (lower, upper, lo, hi)
    return tuple(a.copy() for a in _WALL_SITES[key])


def candidate_sites(
    atoms: Atoms,
    height_A: float = NA_WALL_HEIGHT_A,
    min_host_distance_A: float = 2.0,
    min_na_distance_A: float = 2.8,
    na_na_distance_A: float = NA_NN_DISTANCE_A,
    n_directions: int = 16,
    midplane_below_A: float = 8.0,
    merge_tol_A: float = 0.5,
    use_symmetry: bool = True,
    symprec_A: float = 0.01,
    seed: int = 0,
    guest: str = "Na",
) -> CandidateSites:
    """Propose symmetry-distinct candidate positions for the next Na.

    Args:
        atoms: host with its current Na (walls labelled by the builders or inferred).
        height_A: height of hollow sites above the carbon plane, A.
        min_host_distance_A: drop sites closer than this to any host atom, A.
        min_na_distance_A: drop sites closer than this to any Na, A.
        na_na_distance_A: radius of the neighbour shell around each Na, A.
        n_directions: directions per Na for neighbour sites.
        midplane_below_A: add mid-plane sites where the local spacing is below this, A.
        merge_tol_A: merge sites closer than this, A.
        use_symmetry: collapse symmetry-equivalent sites.
        symprec_A: spglib tolerance, A.
        seed: seed of the rotation applied to the neighbour directions.
    """
    check_range("height_A", height_A, 1.0, 5.0, "A")
    check_range("min_host_distance_A", min_host_distance_A, 0.5, 4.0, "A")
    check_range("min_na_distance_A", min_na_distance_A, 0.5, 5.0, "A")
    check_range("merge_tol_A", merge_tol_A, 0.0, 2.0, "A")
    rng = np.random.default_rng(seed)
    pts: list[np.ndarray] = []
    kinds: list[str] = []

    lower_centres, upper_centres, lo, hi = _wall_sites(atoms, guest)
    for centres, sign in ((lower_centres, 1.0), (upper_centres, -1.0)):
        if len(centres):
            p = centres + np.array([0.0, 0.0, sign * height_A])
            pts.append(p)
            kinds += ["hollow"] * len(p)
    if len(lower_centres):
        with np.errstate(invalid="ignore"):
            narrow = (hi - lo) < midplane_below_A
        if narrow.any():
            p = lower_centres[narrow].copy()
            p[:, 2] = 0.5 * (lo[narrow] + hi[narrow])
            pts.append(p)
            kinds += ["midplane"] * len(p)
    na_idx = guest_indices(atoms, guest)
    if len(na_idx):
        dirs = _fibonacci_sphere(n_directions) @ _random_rotation(rng).T
        p = (atoms.positions[na_idx][:, None, :] + na_na_distance_A * dirs[None]).reshape(-1, 3)
        pts.append(p)
        kinds += ["neighbour"] * len(p)

    points = np.vstack(pts) if pts else np.zeros((0, 3))
    n_proposed = len(points)
    kinds_arr = np.array(kinds)
    if n_proposed:
        # fold into the cell so that symmetry and merging see consistent coordinates
        frac = np.linalg.solve(np.array(atoms.cell).T, points.T).T
        frac[:, :2] -= np.floor(frac[:, :2])
        points = frac @ np.array(atoms.cell)
        lo, hi = local_wall_bounds(atoms, points)
        with np.errstate(invalid="ignore"):
            inside = (points[:, 2] > lo) & (points[:, 2] < hi)
        ok = inside & (min_distances(atoms, points, host_indices(atoms, guest), min_host_distance_A)
                       >= min_host_distance_A)
        ok &= min_distances(atoms, points, na_idx, min_na_distance_A) >= min_na_distance_A
        points, kinds_arr = points[ok], kinds_arr[ok]
    n_rejected = n_proposed - len(points)

    points, owner = _merge_points(points, atoms.cell, atoms.pbc, merge_tol_A)
    first = np.array([np.where(owner == k)[0][0] for k in range(len(points))], int)
    kinds_arr = kinds_arr[first] if len(first) else kinds_arr[:0]
    mult = np.bincount(owner, minlength=len(points)) if len(points) else np.zeros(0, int)
    n_dup = int(mult.sum() - len(points))

    n_ops = 1
    n_sym = 0
    if use_symmetry and len(points) > 1:
        reps, class_of, n_ops = merge_symmetry_equivalent(atoms, points, symprec_A, max(0.1, 10 * symprec_A))
        mult = np.bincount(class_of, weights=mult, minlength=len(reps)).astype(int)
        n_sym = len(points) - len(reps)
        points, kinds_arr = points[reps], kinds_arr[reps]
    counts = {k: int((kinds_arr == k).sum()) for k in SITE_KINDS}
    return CandidateSites(
        positions=points,
        kinds=[str(k) for k in kinds_arr],
        multiplicity=[int(m) for m in mult],
        n_proposed=n_proposed,
        n_rejected=n_rejected,
        n_duplicates=n_dup,
        n_symmetry_merged=n_sym,
        n_symmetry_ops=int(n_ops),
        counts_by_kind=counts,
    )


def add_guest(atoms: Atoms, position: np.ndarray, symbol: str = "Na") -> Atoms:
    """Return a copy of ``atoms`` with one guest atom (tag 0, wall 0) at ``position`` (A)."""
    return append_atom(atoms, symbol, position, TAG_GUEST)
