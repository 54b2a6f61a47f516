"""Candidate sites: counts, symmetry merging, filtering, determinism."""

import numpy as np
import pytest

from nafill.structures.defects import add_defect
from nafill.structures.geometry import between_walls, host_indices, min_distances
from nafill.structures.pores import cavity, orifice
from nafill.structures.sites import add_guest, candidate_sites, hexagon_centres


def test_pristine_ab_bilayer_has_one_distinct_hollow():
    host = cavity(1.82)
    raw = candidate_sites(host, use_symmetry=False)
    sym = candidate_sites(host)
    # 16 hexagons per wall, two walls: 32 raw hollow sites ...
    assert len(raw) == 32 and raw.n_proposed == 32
    # ... all equivalent (lattice translations + the inversion between the AB walls)
    assert len(sym) == 1
    assert sym.n_symmetry_merged == 31
    assert sym.multiplicity == [32]
    assert sym.n_symmetry_ops == 192  # 12 point operations x 16 translations


def test_one_na_lowers_symmetry_and_raises_count():
    host = cavity(1.82)
    first = candidate_sites(host)
    one = add_guest(host, first.positions[0])
    s1 = candidate_sites(one, seed=0)
    assert s1.n_symmetry_ops < 192
    assert len(s1) > len(first)
    assert len(s1) == 17
    assert s1.counts_by_kind["hollow"] == 8 and s1.counts_by_kind["neighbour"] == 9
    assert sum(s1.multiplicity) == s1.n_before_symmetry + s1.n_duplicates


def test_sites_respect_distances_and_walls():
    host = cavity(1.19)
    s = candidate_sites(host)
    a = add_guest(host, s.positions[0])
    a = add_guest(a, s.positions[0] + np.array([3.5, 0.5, 0.8]))
    sites = candidate_sites(a, seed=3, use_symmetry=False)
    assert len(sites) > 0
    assert np.all(min_distances(a, sites.positions, host_indices(a)) >= 2.0)
    na = np.where(a.numbers == 11)[0]
    assert np.all(min_distances(a, sites.positions, na) >= 2.8)
    assert np.all(between_walls(a, sites.positions))


def test_deterministic_for_seed():
    host = cavity(1.48)
    a = add_guest(host, candidate_sites(host).positions[0])
    s1 = candidate_sites(a, seed=7)
    s2 = candidate_sites(a, seed=7)
    s3 = candidate_sites(a, seed=8)
    assert np.array_equal(s1.positions, s2.positions)
    assert not np.array_equal(s1.positions, s3.positions)


def test_orifice_midplane_sites_merge_with_hollows():
    s = candidate_sites(orifice(0.45), use_symmetry=False)
    assert s.n_proposed == 48  # 2 x 16 hollows + 16 mid-plane
    assert s.n_duplicates > 0
    z = s.positions[:, 2]
    assert np.all((z > 7.5 + 1.9) & (z < 7.5 + 4.5 - 1.9))


def test_defected_wall_hexagons_and_sites():
    host = cavity(1.19)
    assert len(hexagon_centres(host, 1)) == 16
    v = add_defect(host, "vacancy")
    # the three hexagons around the vacancy keep two of their three para pairs: still found
    assert len(hexagon_centres(v, 1)) == 16
    assert len(hexagon_centres(v, 2)) == 16
    s = candidate_sites(v)
    assert 1 < len(s) < 32  # symmetry broken by the vacancy, but still merges


def test_bad_threshold_refused():
    from nafill.errors import NafillInputError

    with pytest.raises(NafillInputError, match="min_host_distance_A"):
        candidate_sites(cavity(1.0), min_host_distance_A=-1)
