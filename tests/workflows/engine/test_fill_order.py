"""Connected pores fill narrow first (the published mechanism): section geometry, the closing
rule, and the order of a real emt fill against the energy-only order."""

import numpy as np
import pytest

from nafill.errors import NafillInputError
from nafill.io import atoms_from_dict
from nafill.structures.capacity import pore_capacity, section_capacities
from nafill.structures.connected import connected_pore, section_bounds_A, section_of
from nafill.structures.geometry import guest_indices
from nafill.structures.pores import cavity
from nafill.structures.sites import add_guest
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.loop import run_step, start_path
from nafill.workflows.engine.order import narrow_order, section_profile, section_state
from nafill.workflows.engine.policy import FillingPolicy


def test_section_geometry():
    host = connected_pore([0.5, 1.2])
    (lo0, hi0), (lo1, hi1) = section_bounds_A(host)
    lx = host.cell[0, 0]
    pts = [[0.5 * (lo0 + hi0), 1, 10], [0.5 * (lo1 + hi1), 1, 10], [hi1 + 0.1, 1, 10], [lo0 - 0.1, 1, 10],
           [lx + 1.0, 1, 10], [-5.0, 1, 10]]
    assert list(section_of(host, pts)) == [0, 1, 0, 1, 0, 1]  # periodic along x
    caps = section_capacities(host)
    assert len(caps) == 2 and caps[0] < caps[1] and sum(caps) == pore_capacity(host)
    assert section_capacities(cavity(1.19)) == [] and list(section_of(cavity(1.19), pts)) == [-1] * 6
    # narrowest first, whatever the build order
    assert narrow_order(host) == [0, 1]


def _steps(h, sites):
    return [{"formation_enthalpy_eV": e, "site_A": s} for e, s in zip(h, sites)]


def test_section_closes_at_its_practical_limit():
    host = connected_pore([0.5, 1.2])
    (lo0, hi0), (lo1, hi1) = section_bounds_A(host)
    a, b = [0.5 * (lo0 + hi0), 2, 10], [0.5 * (lo1 + hi1), 2, 10]
    # orifice: H falls (nucleated at once), then rises sharply: closed after the rise
    h = [-0.3, -0.6, -0.9, -0.2]
    st = section_state(host, _steps(h, [a] * 4), 0.25)
    assert st.open_section == 1 and st.closed[0]["section"] == 0 and "practical limit" in st.closed[0]["reason"]
    # the same rises before any nucleation (a barrier being climbed) do not close it
    st = section_state(host, _steps([0.3, 0.7, 1.1], [a] * 3), 0.25)
    assert st.open_section == 0 and st.closed == []
    # the sub-profile takes only the increments of the steps put in that section
    assert section_profile(_steps([-0.3, 0.2, -0.1], [a, b, a]), host, 0) == pytest.approx([-0.3, -0.6])
    # no site left in the narrow section: the next one opens
    st = section_state(host, [], 0.25, has_sites=lambda k: k != 0)
    assert st.open_section == 1 and st.closed[0]["reason"] == "no candidate site left in it"
    # a section holding its theoretical capacity is closed
    full = host
    for k in range(section_capacities(host)[0]):
        full = add_guest(full, [lo0 + 0.5 + (k % 5) * 2.5, 1.0 + (k // 5) * 3.5, host.positions[:, 2].min() + 2.5])
    st = section_state(full, [], 0.25)
    assert st.na_per_section[0] == section_capacities(host)[0] and st.open_section == 1


def test_policy_fill_order_checked_and_default_keys_unchanged():
    with pytest.raises(NafillInputError, match="fill_order"):
        FillingPolicy(fill_order="wide-first").validate()
    assert "fill_order" not in FillingPolicy().physical()  # default order: path keys as before
    assert FillingPolicy(fill_order="narrow-first").physical()["fill_order"] == "narrow-first"


def _first_sections(order: str, n: int):
    host = connected_pore([1.2, 1.82])
    be = get_backend("emt")
    path = start_path(host, be, FillingPolicy(max_na=n, n_candidates=12, prescreen=2, prescreen_pool=12,
                                              refine_trials=0, fill_order=order))
    for _ in range(n):
        run_step(path, be)
    sites = [int(section_of(host, [s["site_A"]])[0]) for s in path.steps]
    last = atoms_from_dict(path.steps[-1]["structure"])
    relaxed = section_of(host, last.positions[guest_indices(last)])
    return sites, relaxed, path


@pytest.mark.slow
def test_connected_fill_goes_narrow_first_on_emt():
    # energy alone: emt puts the first Na of the 1.2 + 1.82 nm pore into the wide (1.82 nm) section
    sites, _, _ = _first_sections("energy", 1)
    assert sites == [1]
    # narrow first: every Na goes to the 1.2 nm section, and stays there after relaxation
    sites, relaxed, path = _first_sections("narrow-first", 4)
    assert sites == [0, 0, 0, 0]
    assert np.all(relaxed == 0)
    for s in path.steps:
        assert s["fill_order"]["rule"] == "narrow-first" and s["fill_order"]["open_section"] == 0
        assert s["fill_order"]["spacing_nm"] == pytest.approx(1.2)
