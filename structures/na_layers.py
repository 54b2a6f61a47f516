"""Graphene bilayers with k layers of bcc Na between the walls (cavity-spacing models).

Orientation and lattice matching
--------------------------------
The Na layers are bcc(110) planes, the densest planes of bcc Na, lying parallel to the walls.
The (110) plane is a centred-rectangular net with primitive vectors ``b1 = a [001]``
(length a) and ``b2 = a/2 [1-11]`` (length a*sqrt(3)/2, 54.7 deg from b1); successive planes
are ``a/sqrt(2)`` apart and shifted by ``b1/2`` (ABAB stacking).

The net is matched to the lateral graphene cell by a search over integer supercells
``M @ (b1, b2)`` (entries -8..8) whose area is within one atom of the cell's area: the
supercell that needs the smallest principal in-plane strain (polar decomposition of the map
onto the graphene cell) is strained onto the graphene cell. For the 4x4 cell (a = 9.84 A)
and a_Na = 4.23 A this gives 7 Na per layer at principal strains of -12 % / +8 % (area -5 %): a hexagonal
4x4 cell cannot hold the anisotropic (110) net without distorting it towards the close-packed
hexagonal net (the 6x6 cell needs only -2 % / +9 %). The layer spacing is then rescaled so that each Na keeps the bcc atomic volume
a^3/2 (metallic density). The chosen strain is reported in ``atoms.info``.

The outer Na layers sit ``na_wall_distance_A`` (2.4 A) from the carbon planes, so the
unrelaxed spacing is ``(k - 1) * d_layer + 2 * na_wall_distance_A``; these are starting
models for relaxing walls and Na together (walls are *not* frozen here).
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

from nafill.constants import (
    CC_BOND_A,
    DEFAULT_VACUUM_A,
    MIN_NA_C_DISTANCE_A,
    NA_BCC_A_EXPT,
    NA_WALL_HEIGHT_A,
    NM_TO_A,
    TAG_GUEST,
    WALL_ARRAY,
)
from nafill.errors import NafillInputError, check_int, check_range
from nafill.structures.graphene import graphene_bilayer


def bcc110_net(lattice_A: float) -> tuple[np.ndarray, float]:
    """Primitive 2D vectors (rows, A) of the bcc(110) net and the interplanar distance (A)."""
    a = lattice_A
    b = np.array([[a, 0.0], [0.5 * a, a / np.sqrt(2.0)]])
    return b, a / np.sqrt(2.0)


def match_net_to_cell(
    net: np.ndarray, cell2d: np.ndarray, max_index: int = 8
) -> tuple[np.ndarray, np.ndarray, float]:
    """Find the integer supercell of ``net`` that maps onto ``cell2d`` with least strain.

    Returns ``(M, F, max_strain)``: the integer matrix (rows = supercell vectors in net units),
    the 2x2 deformation gradient taking net coordinates onto the cell, and the largest
    absolute principal strain.
    """
    area_cell = abs(np.linalg.det(cell2d))
    area_net = abs(np.linalg.det(net))
    n_target = area_cell / area_net
    rng = range(-max_index, max_index + 1)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for m11, m12, m21, m22 in itertools.product(rng, rng, rng, rng):
        det = m11 * m22 - m12 * m21
        if det <= 0 or abs(det - n_target) > 1.0:
            continue
        M = np.array([[m11, m12], [m21, m22]], float)
        L = M @ net
        F = np.linalg.solve(L, cell2d).T  # F @ L_i = cell_i  <=>  L @ F.T = cell2d
        # principal strains from the right stretch tensor U = sqrt(F^T F)
        ev = np.sqrt(np.linalg.eigvalsh(F.T @ F))
        strain = float(np.max(np.abs(ev - 1.0)))
        key = (strain, det)
        if best is None or key < (best[0], abs(np.linalg.det(best[1]))):
            best = (strain, M, F)
    if best is None:
        raise NafillInputError("no bcc(110) supercell matches this lateral cell; enlarge the cell")
    return best[1].astype(int), best[2], best[0]


def _lattice_points_in(M: np.ndarray, net: np.ndarray) -> np.ndarray:
    """Net points (A, 2D) inside the supercell spanned by ``M @ net`` (fractional in [0,1))."""
    L = M @ net
    n = int(round(abs(np.linalg.det(M))))
    span = int(np.abs(M).sum()) + 1
    pts = []
    for i in range(-span, span + 1):
        for j in range(-span, span + 1):
            p = i * net[0] + j * net[1]
            f = np.linalg.solve(L.T, p)
            if np.all(f >= -1e-9) and np.all(f < 1 - 1e-9):
                pts.append(p)
    pts = np.array(pts)
    assert len(pts) == n, (len(pts), n)
    return pts


def na_layers_model(
    layers: int,
    supercell: tuple[int, int] = (4, 4),
    stacking: str = "AB",
    lattice_A: float = NA_BCC_A_EXPT,
    na_wall_distance_A: float = NA_WALL_HEIGHT_A,
    vacuum_A: float = DEFAULT_VACUUM_A,
    cc_bond_A: float = CC_BOND_A,
) -> Atoms:
    """Graphene bilayer with ``layers`` (1..7) bcc(110) Na layers between the walls.

    Args:
        layers: number of Na layers, 1..7.
        supercell, stacking, vacuum_A, cc_bond_A: as for
            :func:`nafill.structures.graphene.graphene_bilayer`.
        lattice_A: bcc Na lattice constant, A (default 4.23 A).
        na_wall_distance_A: distance of the outer Na layers from the carbon planes, A
            (2.0-3.5 A).

    Returns:
        ``Atoms`` (walls tagged 1/2, Na tagged 0, no constraints) with ``info`` keys
        ``na_layers``, ``na_per_layer``, ``na_layer_spacing_A``, ``na_in_plane_strain``.
    """
    k = check_int("layers", layers, 1, 7)
    a = check_range("lattice_A", lattice_A, 3.5, 5.0, "A")
    h = check_range("na_wall_distance_A", na_wall_distance_A, MIN_NA_C_DISTANCE_A, 3.5, "A")
    net, _ = bcc110_net(a)
    probe = graphene_bilayer(1.0, supercell, stacking, vacuum_A, cc_bond_A)
    cell2d = probe.cell[:2, :2]
    M, F, strain = match_net_to_cell(net, cell2d)
    pts = _lattice_points_in(M, net)
    n_per_layer = len(pts)
    area_per_atom = abs(np.linalg.det(cell2d)) / n_per_layer
    d_layer = (a**3 / 2.0) / area_per_atom  # keep the bcc atomic volume
    spacing_A = (k - 1) * d_layer + 2.0 * h
    host = graphene_bilayer(spacing_A / NM_TO_A, supercell, stacking, vacuum_A, cc_bond_A)
    host.set_constraint()
    z_low = host.positions[host.arrays[WALL_ARRAY] == 1, 2].mean()
    # offset the Na net from the carbon sites (a hexagon-centre-like registry)
    offset = (cell2d[0] + cell2d[1]) / (3.0 * max(supercell))
    inv_cell = np.linalg.inv(cell2d)
    na = []
    for layer in range(k):
        shift = 0.5 * net[0] * (layer % 2)
        xy = (pts + shift) @ F.T + offset
        frac = xy @ inv_cell
        frac -= np.floor(frac + 1e-12)
        xy = frac @ cell2d
        z = z_low + h + layer * d_layer
        na.extend(np.column_stack([xy, np.full(len(xy), z)]))
    na_atoms = Atoms("Na" * len(na), positions=np.array(na), cell=host.cell, pbc=True)
    na_atoms.set_tags([TAG_GUEST] * len(na_atoms))
    na_atoms.set_array(WALL_ARRAY, np.zeros(len(na_atoms), int))
    atoms = host + na_atoms
    atoms.info.update(host.info)
    atoms.info.update(
        pore_kind="na_layers",
        spacing_nm=spacing_A / NM_TO_A,
        na_layers=k,
        na_per_layer=n_per_layer,
        na_layer_spacing_A=float(d_layer),
        na_in_plane_strain=float(strain),
        na_orientation="bcc(110) parallel to the walls",
    )
    return atoms
