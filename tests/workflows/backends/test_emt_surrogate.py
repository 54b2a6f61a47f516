"""The emt surrogate: exact EMT, consistent forces, and the physics targets of the issue."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators import emt as ase_emt

from nafill.errors import NafillInputError
from nafill.structures.geometry import wall_labels
from nafill.structures.pores import cavity, orifice
from nafill.structures.sites import add_guest, hexagon_centres
from nafill.workflows.backends.emt_surrogate import NA_EMT_PARAMETERS, NaCarbonEMT
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.bulk import optimise_bcc
from nafill.workflows.engine.references import na_reference


def _random_na(host, n, seed):
    rng = np.random.default_rng(seed)
    z_lo = host.positions[wall_labels(host) == 1, 2].max() + 2.2
    z_hi = host.positions[wall_labels(host) == 2, 2].min() - 2.2
    pts = []
    while len(pts) < n:
        f = rng.random(2)
        p = f[0] * host.cell[0] + f[1] * host.cell[1]
        p[2] = rng.uniform(z_lo, z_hi)
        if all(np.linalg.norm(p - q) > 2.6 for q in pts):
            pts.append(p)
    a = host
    for p in pts:
        a = add_guest(a, p)
    return a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_na_part_equals_ase_emt(monkeypatch, seed):
    """The vectorised Na-Na term is ASE's EMT with nafill's Na parameters (1e-8 eV)."""
    monkeypatch.setitem(ase_emt.parameters, "Na", NA_EMT_PARAMETERS)
    rng = np.random.default_rng(seed)
    na = bulk("Na", "bcc", a=4.2, cubic=True) * (2, 2, 2)
    na.positions += rng.normal(0, 0.15, na.positions.shape)
    ref = na.copy()
    ref.calc = ase_emt.EMT(asap_cutoff=True)
    ours = na.copy()
    ours.calc = NaCarbonEMT()
    assert ours.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert np.abs(ours.get_forces() - ref.get_forces()).max() < 1e-8


def _assert_fd_forces(a, indices, h=1e-5):
    """Analytic forces equal central finite differences of the energy on ``indices``."""
    a.calc = NaCarbonEMT()
    f = a.get_forces()
    for i in indices:
        for k in range(3):
            p = a.copy()
            p.calc = NaCarbonEMT()
            p.positions[i, k] += h
            ep = p.get_potential_energy()
            p.positions[i, k] -= 2 * h
            em = p.get_potential_energy()
            assert -(ep - em) / (2 * h) == pytest.approx(f[i, k], abs=1e-5)
    return f


def test_forces_are_minus_gradient():
    a = _random_na(cavity(1.19), 6, seed=3)
    _assert_fd_forces(a, np.where(a.numbers == 11)[0][:4])


def test_bcc_sodium_targets():
    calc = NaCarbonEMT()

    def energy(atoms):
        atoms.calc = calc
        return atoms.get_potential_energy()

    res = optimise_bcc(energy)
    assert res.lattice_A == pytest.approx(4.2, abs=0.1)
    cohesive = -NA_EMT_PARAMETERS[0] - res.energy_per_atom_eV  # isolated EMT atom: -E0
    assert cohesive == pytest.approx(1.1, abs=0.2)
    assert 4.0 <= res.bulk_modulus_GPa <= 10.0
    # the isolated atom really has energy -E0
    iso = Atoms("Na", cell=[20, 20, 20], pbc=True)
    iso.calc = calc
    assert iso.get_potential_energy() == pytest.approx(-NA_EMT_PARAMETERS[0])


def test_single_na_on_wall_hollow_and_less_stable_than_metal():
    backend = get_backend("emt")
    host = cavity(1.82)
    mu = na_reference(backend, use_cache=False)["mu_na_eV"]
    e_host = backend.single_point(host).energy_eV
    xy = hexagon_centres(host, 1)[5]
    z_wall = host.positions[0, 2]
    start = add_guest(host, [xy[0] + 0.6, xy[1] - 0.4, z_wall + 3.2])
    res = backend.relax(start, fmax_eV_A=0.005)
    assert res.converged
    na = res.atoms().positions[-1]
    assert 2.0 <= na[2] - z_wall <= 3.0
    # it ends above the nearest hexagon centre (a hollow site)
    centres = hexagon_centres(host, 1)
    d_xy = np.linalg.norm((centres - na)[:, :2], axis=1).min()
    assert d_xy < 0.15
    h1 = res.energy_eV - e_host - mu
    assert h1 > 0  # less stable than bulk Na
    assert h1 == pytest.approx(0.35, abs=0.05)


def test_no_na_passes_through_a_wall():
    backend = get_backend("emt")
    host = cavity(1.19)
    xy = hexagon_centres(host, 1)[0]
    z_wall = host.positions[0, 2]
    e_in = backend.single_point(add_guest(host, [xy[0], xy[1], z_wall + 2.4])).energy_eV
    e_plane = backend.single_point(add_guest(host, [xy[0], xy[1], z_wall])).energy_eV
    assert e_plane - e_in > 5.0  # crossing through a hexagon costs > 5 eV
    # a Na pushed close to the wall is pushed back into the pore, not through
    res = backend.relax(add_guest(host, [xy[0], xy[1], z_wall + 1.3]), fmax_eV_A=0.01)
    assert res.atoms().positions[-1, 2] - z_wall > 2.0


def test_orifice_na_at_midplane():
    backend = get_backend("emt")
    host = orifice(0.45)
    xy = hexagon_centres(host, 1)[3]
    z_wall = host.positions[0, 2]
    res = backend.relax(add_guest(host, [xy[0] + 0.3, xy[1], z_wall + 1.9]), fmax_eV_A=0.005)
    z = res.atoms().positions[-1, 2]
    assert z - (z_wall + 2.25) == pytest.approx(0.0, abs=0.1)


def test_emt_refuses_free_host():
    backend = get_backend("emt")
    a = add_guest(cavity(1.0), [1.0, 1.0, 10.0])
    with pytest.raises(NafillInputError, match="cannot relax host atoms"):
        backend.relax(a, fixed=[64])


def test_backend_errors_say_how_to_fix():
    with pytest.raises(NafillInputError, match="unknown; use one of surrogate, emt, mlip"):
        get_backend("dftb")
    with pytest.raises(NafillInputError, match="cannot import module"):
        get_backend("no_such_module_xyz:Calc")
    with pytest.raises(NafillInputError, match="has no attribute"):
        get_backend("ase.calculators.lj:NoSuchCalc")


def test_module_factory_backend_same_document():
    backend = get_backend("ase.calculators.lj:LennardJones", sigma=3.0, epsilon=0.01, rc=6.0)
    a = add_guest(cavity(1.0), [1.0, 1.0, 10.0])
    sp = backend.single_point(a)
    assert sp.ok and sp.backend == "ase.calculators.lj:LennardJones"
    r = backend.relax(a, fmax_eV_A=0.05)
    assert set(r.as_dict()) == set(get_backend("emt").relax(a).as_dict())
    assert r.energy_eV <= sp.energy_eV + 1e-9
    # carbon stayed frozen
    assert np.allclose(r.atoms().positions[:64], a.positions[:64])


def test_host_forces_are_minus_gradient():
    """Reaction and inter-wall forces on carbon (used for rigid-wall spacing relaxations)."""
    a = _random_na(cavity(0.82), 4, seed=5)
    a.set_constraint()
    f = _assert_fd_forces(a, (0, 40))  # one atom of each wall
    # Newton's third law: no net force on the whole system
    assert np.abs(f.sum(axis=0)).max() < 1e-9


def test_rigid_wall_spacing_relaxation():
    from nafill.structures.geometry import wall_spacings_A
    from nafill.structures.na_layers import na_layers_model

    model = na_layers_model(2)
    res = get_backend("emt").relax_walls_and_na(model, fmax_eV_A=0.02)
    assert res.converged
    out = res.atoms()
    walls = out.arrays["wall"]
    for w in (1, 2):
        z = out.positions[walls == w, 2]
        assert np.ptp(z) < 1e-9  # each wall moved as one flat sheet
        xy0 = model.positions[walls == w, :2]
        assert np.allclose(out.positions[walls == w, :2], xy0)  # along z only
    assert wall_spacings_A(out)[0] / 10 == pytest.approx(0.81, abs=0.05)  # published 0.82 nm


@pytest.mark.parametrize("spacing,n_na,seed", [(0.82, 3, 11), (1.19, 12, 12), (1.82, 34, 13)])
def test_fast_evaluation_equals_plain_reference(spacing, n_na, seed):
    """The cached, vectorised calculator equals the plain ASE-based reference (1e-8 eV)."""
    from nafill.workflows.backends.emt_reference import NaCarbonEMTReference

    a = _random_na(cavity(spacing), n_na, seed=seed)
    a.set_constraint()
    fast = a.copy()
    fast.calc = NaCarbonEMT()
    ref = a.copy()
    ref.calc = NaCarbonEMTReference()
    assert fast.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert np.abs(fast.get_forces() - ref.get_forces()).max() < 1e-8
    # and again after moving only the Na (the host cache must not go stale)
    rng = np.random.default_rng(seed)
    na = a.numbers == 11
    fast.positions[na] += rng.normal(0, 0.05, (na.sum(), 3))
    ref.positions[:] = fast.positions
    assert fast.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert np.abs(fast.get_forces() - ref.get_forces()).max() < 1e-8
