"""The builders' distance function against ASE's own, and the host-only cache of the site rules."""

import numpy as np
import pytest
from ase.build import bulk
from ase.geometry import get_distances as ase_get_distances

from nafill.structures.connected import connected_pore
from nafill.structures.geometry import get_distances, local_wall_bounds, min_distances, mic_pairs_within
from nafill.structures.pores import cavity, orifice
from nafill.structures import sites as sites_module
from nafill.structures.sites import _wall_sites, add_guest, candidate_sites, hexagon_centres


def _cells():
    skewed = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)  # a primitive fcc cell: 60 degree angles everywhere
    rattled = bulk("Na", "bcc", a=4.2) * (2, 2, 2)
    rattled.rattle(0.3, seed=1)
    return [cavity(1.82), orifice(0.45), connected_pore((0.5, 1.2)), skewed, rattled]


@pytest.mark.parametrize("atoms", _cells(), ids=["cavity", "orifice", "connected", "fcc-primitive", "bcc-rattled"])
@pytest.mark.parametrize("pbc", [None, (True, True, False), (True, False, False), (False, False, False)])
def test_distances_are_ases_bit_for_bit(atoms, pbc):
    """Every image choice and every length as ase.geometry.get_distances gives them, including the
    exact ties of lattice points half a cell vector apart, in 3D-, 2D-, 1D- and non-periodic cells."""
    pbc = atoms.pbc if pbc is None else pbc
    rng = np.random.default_rng(0)
    cell = np.array(atoms.cell)
    p = atoms.positions[:40]
    points = np.vstack([p + rng.normal(0, 1.5, p.shape), rng.random((60, 3)) @ cell * 1.4 - 2.0,
                        p[:15] + 0.5 * cell[0], p[:15] + 0.5 * (cell[0] + cell[1])])
    for args in ((points, atoms.positions), (points, None), (atoms.positions[:30], None)):
        D, d = get_distances(*args, cell=atoms.cell, pbc=pbc)
        D_ase, d_ase = ase_get_distances(*args, cell=atoms.cell, pbc=pbc)
        assert np.array_equal(d, d_ase)
        assert np.array_equal(D, D_ase)
    D, d = get_distances(points, atoms.positions)  # no cell: plain distances
    assert np.array_equal(d, ase_get_distances(points, atoms.positions)[1])
    with pytest.raises(ValueError, match="both"):
        get_distances(points, cell=atoms.cell)


def test_a_vector_longer_than_half_the_cell_gets_its_nearest_image():
    """In the 60-degree 4x4 cell (a = 9.84 A) a vector of 0.9 a along a is an image 0.1 a long."""
    a = cavity(1.19)
    v = 0.9 * np.array(a.cell)[0]
    _, d = get_distances(np.zeros(3), v, cell=a.cell, pbc=a.pbc)
    assert d[0, 0] == pytest.approx(0.1 * np.linalg.norm(np.array(a.cell)[0]), abs=1e-12)


def test_local_wall_bounds_of_a_cavity_and_of_a_point_outside_every_wall():
    a = cavity(1.82)
    z = a.positions[:, 2]
    lo_plane, hi_plane = z.min(), z.max()
    pts = np.array([[1.0, 1.0, 10.0], [3.0, 2.0, 12.0]])
    lo, hi = local_wall_bounds(a, pts)
    assert np.allclose(lo, lo_plane) and np.allclose(hi, hi_plane)
    # a connected pore: above its lower wall the upper wall is the narrow or the wide section's
    c = connected_pore((0.5, 1.2))
    lower = c.positions[c.positions[:, 2] < c.positions[:, 2].min() + 0.1]
    lo, hi = local_wall_bounds(c, lower)
    spacing = (hi - lo)[np.isfinite(hi - lo)]
    assert spacing.min() == pytest.approx(5.0, abs=0.05) and spacing.max() == pytest.approx(12.0, abs=0.05)


def test_the_host_part_of_the_site_rules_is_kept_per_host_and_never_stale():
    a = cavity(1.19)
    first = _wall_sites(a)
    assert np.array_equal(first[0], hexagon_centres(a, 1)) and np.array_equal(first[1], hexagon_centres(a, 2))
    with_na = add_guest(a, np.array([1.0, 1.0, a.positions[:, 2].mean()]))
    assert all(np.array_equal(x, y) for x, y in zip(_wall_sites(with_na), first))  # the Na is not the host
    first[0][:] = 0.0  # a caller's edit does not reach the kept copy
    assert np.array_equal(_wall_sites(a)[0], hexagon_centres(a, 1))
    moved = a.copy()
    moved.positions[0, 0] += 0.05  # another host: computed again
    assert not np.array_equal(_wall_sites(moved)[0], hexagon_centres(a, 1))
    assert np.array_equal(_wall_sites(moved)[0], hexagon_centres(moved, 1))
    # the sites themselves are the same with a cold cache
    sites = candidate_sites(with_na)
    sites_module._WALL_SITES.clear()
    again = candidate_sites(with_na)
    assert np.array_equal(sites.positions, again.positions) and sites.kinds == again.kinds


@pytest.mark.parametrize("atoms", _cells(), ids=["cavity", "orifice", "connected", "fcc-primitive", "bcc-rattled"])
@pytest.mark.parametrize("pbc", [None, (True, True, False), (False, False, False)])
@pytest.mark.parametrize("cutoff_A", [1.0, 2.8, 6.0])
def test_pairs_within_a_cutoff_are_exactly_those_of_the_whole_distance_matrix(atoms, pbc, cutoff_A):
    own_pbc = pbc is None
    pbc = atoms.pbc if own_pbc else pbc
    rng = np.random.default_rng(1)
    points = rng.random((70, 3)) @ np.array(atoms.cell) * 1.2 - 1.0
    _, d = get_distances(points, atoms.positions, cell=atoms.cell, pbc=pbc)
    i, j, dd = mic_pairs_within(points, atoms.positions, atoms.cell, pbc, cutoff_A)
    want = np.argwhere(d < cutoff_A)
    assert len(want) > 0
    assert np.array_equal(np.column_stack([i, j]), want)
    assert np.allclose(dd, d[i, j], rtol=0, atol=1e-12)
    if own_pbc:  # min_distances takes the atoms' own pbc
        nearest = min_distances(atoms, points, np.arange(len(atoms)), cutoff_A)
        full = d.min(axis=1)
        assert np.array_equal(np.isinf(nearest), full >= cutoff_A)
        assert np.allclose(nearest[np.isfinite(nearest)], full[full < cutoff_A], rtol=0, atol=1e-12)
