"""Collective moves: Na clusters under periodic boundaries, motif signatures, coalescence."""

import numpy as np
import pytest
from ase.geometry import get_distances

from nafill.constants import NA_NN_DISTANCE_A
from nafill.structures.geometry import between_walls, guest_indices, host_indices, min_distances
from nafill.structures.moves import CLUSTER_CUTOFF_A, cluster_signature, coalesce, na_clusters
from nafill.structures.pores import cavity
from nafill.structures.sites import add_guest


def _pore_with(points_frac_xy_z):
    """The 1.82 nm cavity with Na at (fractional x, fractional y, height above the lower wall A)."""
    a = cavity(1.82)
    z0 = a.positions[host_indices(a), 2].min()
    for fx, fy, h in points_frac_xy_z:
        xy = fx * a.cell[0] + fy * a.cell[1]
        a = add_guest(a, np.array([xy[0], xy[1], z0 + h]))
    return a


def test_clusters_link_through_the_periodic_boundary():
    # 0.15 and 0.85 of a 9.84 A cell: 2.95 A apart across the boundary, 6.9 A directly; the
    # third Na is 4.4 A from the nearer one
    a = _pore_with([(0.15, 0.0, 2.4), (0.85, 0.0, 2.4), (0.5, 0.5, 2.4)])
    labels = na_clusters(a)
    d = get_distances(a.positions[guest_indices(a)], cell=a.cell, pbc=a.pbc)[1]
    assert d[0, 1] < CLUSTER_CUTOFF_A < np.linalg.norm(a.positions[guest_indices(a)[0]] - a.positions[guest_indices(a)[1]])
    assert labels[0] == labels[1] != labels[2]
    assert cluster_signature(a) == ((2, 1), 0)
    assert cluster_signature(cavity(1.82)) == ((), 0)


def test_coalesce_gathers_the_nearest_isolated_na_onto_the_seed():
    # four isolated adatoms on the lower wall, one on the upper wall
    a = _pore_with([(0.1, 0.1, 2.4), (0.6, 0.1, 2.4), (0.1, 0.6, 2.4), (0.6, 0.6, 2.4), (0.35, 0.35, 15.8)])
    assert cluster_signature(a)[0] == (1, 1, 1, 1, 1)
    na = guest_indices(a)
    b = coalesce(a, int(na[0]), 3)
    assert b is not None and len(b) == len(a)
    assert (b.numbers == a.numbers).all() or sorted(b.numbers) == sorted(a.numbers)
    assert cluster_signature(b) == ((4, 1), 0)
    nb = guest_indices(b)
    # the seed did not move; the upper-wall Na (farther than every lower-wall one) did not either
    assert np.allclose(b.positions[nb[0]], a.positions[na[0]])
    assert any(np.allclose(b.positions[i], a.positions[na[4]]) for i in nb)
    # every placed Na sits on the seed cluster's neighbour shell, inside the pore, clear of the walls
    pos = b.positions[nb]
    d = get_distances(pos, cell=b.cell, pbc=b.pbc)[1]
    d[np.diag_indices_from(d)] = np.inf
    assert d.min() >= 2.8 - 1e-9
    assert (np.sort(d, axis=1)[-3:, 0] < NA_NN_DISTANCE_A + 0.3).all()
    assert between_walls(b, pos).all()
    assert min_distances(b, pos, host_indices(b)).min() >= 2.0
    # the host is untouched
    assert np.allclose(b.positions[host_indices(b)], a.positions[host_indices(a)])


def test_coalesce_refuses_what_it_cannot_do():
    a = _pore_with([(0.1, 0.1, 2.4), (0.6, 0.6, 2.4)])
    na = guest_indices(a)
    assert coalesce(a, int(na[0]), 2) is None  # one isolated Na besides the seed
    with pytest.raises(ValueError, match="n_move"):
        coalesce(a, int(na[0]), 0)
    with pytest.raises(ValueError, match="not a Na"):
        coalesce(a, 0, 1)


def test_close_pairs_of_isolated_na_count_in_the_signature():
    # hollow-hollow distances on graphene: 2.46 (a), 4.26 (sqrt 3 a), 4.92 (2 a) A
    a = _pore_with([(0.0, 0.0, 2.4), (0.25, 0.25, 2.4)])  # sqrt(3)/4 of 9.84 A x sqrt 3 = 4.26 A
    b = _pore_with([(0.0, 0.0, 2.4), (0.5, 0.0, 2.4)])  # 4.92 A
    assert cluster_signature(a) == ((1, 1), 1)
    assert cluster_signature(b) == ((1, 1), 0)
