"""Beyond the protocol: phonopy free energies, orifice NEB."""

import json

import numpy as np
import pytest

from nafill.structures.pores import cavity
from nafill.structures.sites import add_guest, hexagon_centres
from nafill.workflows.backends.mlip import mlip_available
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.policy import FillingPolicy
from nafill.workflows.studies.neb import orifice_hop_neb
from nafill.workflows.studies.thermo import bcc_na_free_energy, free_energy_profile, frozen_host_free_energy

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _one_na(site="hollow"):
    host = cavity(1.82)
    z = host.positions[0, 2] + 2.4
    if site == "hollow":
        xy = hexagon_centres(host, 1)[0]
    else:  # the midpoint of a C-C bond of the lower wall: a saddle for the Na
        xy = 0.5 * (host.positions[0] + host.positions[1])
    return add_guest(host, [xy[0], xy[1], z])


def test_imaginary_mode_is_flagged_and_minimum_is_clean():
    emt = get_backend("emt")
    relaxed = emt.relax(_one_na("hollow"), fmax_eV_A=1e-3).atoms()
    ok = frozen_host_free_energy(emt.calculator, relaxed, [0, 300])
    assert not ok.has_imaginary and ok.n_modes == 3 and ok.n_atoms_displaced == 1
    assert ok.free_energy_eV[1] < ok.free_energy_eV[0]  # F_vib falls with T
    saddle = frozen_host_free_energy(emt.calculator, _one_na("bridge"), [300])
    assert saddle.has_imaginary
    assert min(saddle.imaginary_modes_THz) < -0.5


def test_emt_bcc_instability_is_reported_not_hidden():
    res = bcc_na_free_energy(get_backend("emt").calculator, 4.2, [300])
    assert res.has_imaginary  # documented limitation of the EMT surrogate for bcc Na


def test_free_energy_profile_bookkeeping():
    emt = get_backend("emt")
    path = fill(cavity(1.05), emt, FillingPolicy(max_na=2))
    prof = free_energy_profile(path, emt.calculator, [0, 300])
    assert prof.n_na == [1, 2]
    for i, x in enumerate(prof.n_na):
        for j in range(2):
            expect = prof.formation_enthalpy_eV[i] + prof.f_vib_eV[i][j] - x * prof.f_na_eV[j]
            assert prof.gibbs_eV[i][j] == pytest.approx(expect, abs=1e-12)


@pytest.mark.skipif(not mlip_available(), reason="optional extra nafill[mlip] not installed")
def test_bcc_na_harmonic_free_energy_with_mlip():
    """SevenNet-0 bcc Na: no imaginary mode; f(300 K) near the Debye harmonic value.

    Debye model with theta_D = 156 K (Na, experiment): 3 k T ln(hbar omega_g / k T) with
    omega_g = e^(-1/3) theta_D gives -0.077 eV/atom at 300 K; zero-point 9/8 k theta_D = 0.015 eV.
    """
    res = bcc_na_free_energy(get_backend("mlip").calculator, 4.2, [0, 300])
    assert not res.has_imaginary
    assert res.free_energy_eV[0] == pytest.approx(0.015, abs=0.006)
    assert res.free_energy_eV[1] == pytest.approx(-0.077, abs=0.02)


def test_neb_symmetric_hop_converges():
    res = orifice_hop_neb(0.55, get_backend("emt"), n_images=6, fmax_eV_A=0.05)
    assert res.converged and res.max_force_eV_A <= 0.05
    assert res.barrier_eV == pytest.approx(res.reverse_barrier_eV, abs=1e-3)  # end points equivalent
    e = np.array(res.energies_eV)
    assert np.allclose(e, e[::-1], atol=5e-3)  # the profile is symmetric about the middle
    assert res.hop_distance_A == pytest.approx(np.sqrt(3) * 1.42, abs=0.05)  # no intermediate minimum here
    assert res.barrier_eV > 0


def test_neb_cli_table(tmp_path, capsys):
    from nafill.cli import main

    out = tmp_path / "neb"
    assert main(["neb", "--spacings-nm", "0.40", "0.55", "--out", str(out), "--vasp-inputs",
                 str(tmp_path / "vasp")]) == 0
    text = capsys.readouterr().out
    assert "spacing_nm" in text and "barrier_eV" in text
    doc = json.loads((out / "neb.json").read_text())
    b = {r["spacing_nm"]: r["barrier_eV"] for r in doc["results"]}
    assert b[0.40] > b[0.55]  # squeezing the orifice makes the hop harder
    assert (out / "neb.png").stat().st_size > 1000
    incar = (tmp_path / "vasp" / "neb_0.4nm" / "INCAR").read_text()
    assert "IMAGES = 6" in incar and "LCLIMB = True" in incar
    assert (tmp_path / "vasp" / "neb_0.4nm" / "07" / "POSCAR").exists()
    assert main(["neb", "--spacings-nm", "0.1"]) == 2


def test_thermo_cli(tmp_path, capsys):
    from nafill.cli import main

    run = tmp_path / "run"
    assert main(["fill", "--spacing-nm", "1.05", "--max-na", "2", "--out", str(run), "-q", "--engine", "local"]) == 0
    capsys.readouterr()
    assert main(["thermo", str(run), "--temperatures", "0", "300"]) == 0
    text = capsys.readouterr().out
    assert "G(300K) eV" in text and "imaginary modes" in text  # the emt bcc warning
    assert (run / "thermo.json").exists() and (run / "thermo.png").exists()
    assert main(["thermo", str(run), "--temperatures", "-5"]) == 2
