"""Orifice NEB on emt: end points are adjacent minima, the climbing image climbs, symmetric hops."""

import numpy as np
import pytest

from nafill.workflows.backends.registry import get_backend
from nafill.workflows.studies.neb import orifice_hop_neb


@pytest.mark.parametrize("spacing_nm, split", [(0.40, True), (0.50, False)])
def test_neb_adjacent_minima_and_climb(spacing_nm, split):
    res = orifice_hop_neb(spacing_nm, get_backend("emt"), n_images=6, fmax_eV_A=0.05)
    e = np.array(res.energies_eV)
    # end points are adjacent minima: no image below either end by more than 5 meV
    assert e[1:-1].min() >= min(e[0], e[-1]) - 0.005
    assert res.lowest_interior_eV >= -0.005
    # the 2.46 A hop across a C-C bridge passes through a minimum at 0.40 nm (emt): it was cut there
    assert bool(res.splits) is split
    if split:
        assert res.initial_hop_distance_A == pytest.approx(2.46, abs=0.05)
        assert res.hop_distance_A < 0.7 * res.initial_hop_distance_A
        first = np.array(res.initial_band_eV)
        assert first[1:-1].min() < first[1:-1].max() - 0.005  # the first band had the intermediate minimum
    # the climbing image climbed: moved, converged, highest image
    assert res.converged and res.max_force_eV_A <= 0.05
    assert res.climb_steps > 0 and res.climb_displacement_A > 1e-3 and res.climbed
    assert res.climbing_image == int(np.argmax(e))
    # a symmetric hop has a symmetric barrier
    assert res.barrier_eV == pytest.approx(res.reverse_barrier_eV, abs=2e-3)
    assert res.barrier_eV > 0
    assert len(res.path_A) == len(e) == 8
