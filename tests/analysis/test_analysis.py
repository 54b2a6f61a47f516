"""Analysis on synthetic profiles and data with known answers."""

import copy
import json

import numpy as np
import pytest

from nafill.analysis.capacity import capacity_report, gravimetric_capacity_mAh_g, host_mass_g_mol
from nafill.analysis.compare import barrier_vs_size, connected_comparison, orifice_scan, summary_table
from nafill.analysis.experiment import (
    HARD_CARBON_SAMPLES,
    bragg_spacing_A,
    closed_pore_volume_cm3_g,
    fit_b_value,
    fit_saxs_closed_pores,
    saxs_model,
    scherrer_size_nm,
)
from nafill.analysis.nucleation import (
    classical_barrier_eV,
    classical_critical_radius_nm,
    confined_barrier_eV,
    confined_critical_radius_nm,
    fit_barrier_vs_size,
)
from nafill.analysis.profile import (
    formation_enthalpies,
    nucleation_barrier,
    practical_capacity,
    profile_dataframe,
    step_voltages,
)
from nafill.errors import NafillInputError
from nafill.io import atoms_to_dict
from nafill.structures.connected import connected_pore
from nafill.structures.pores import cavity, orifice
from nafill.workflows.engine.documents import FillingPath


def synthetic_path(h, host=None, mu=-1.0, e_host=-100.0, valence=None):
    """A FillingPath whose energies give the formation enthalpies ``h`` (x = 1..N)."""
    host = cavity(1.19) if host is None else host
    steps = []
    e_prev = e_host
    for x, hx in enumerate(h, start=1):
        e = e_host + x * mu + hx
        steps.append({"n_na": x, "energy_eV": e, "formation_enthalpy_eV": hx,
                      "step_voltage_V": -(e - e_prev - mu), "n_candidates": 1, "n_relaxed": 1,
                      "wall_s": 0.0, "na_bader_valence": valence})
        e_prev = e
    return FillingPath(host=atoms_to_dict(host), backend={"name": "synthetic"}, policy={},
                       reference={"mu_na_eV": mu, "e_host_eV": e_host, "theoretical_capacity_na": 22},
                       steps=steps, schema="nafill.path/1")


def test_parabola_profile_barrier_by_hand():
    x = np.arange(1, 13)
    h = 0.1 * x * (8 - x)  # max 1.6 eV at x = 4, falls below 1.55 at x = 6 (1.2 eV)
    nuc = nucleation_barrier(h)
    assert nuc.status == "barrier"
    assert nuc.barrier_eV == pytest.approx(1.6)
    assert nuc.critical_size == 4
    assert nuc.nucleation_at == 5  # H(5) = 1.5 < 1.6 - 0.05
    assert practical_capacity(h) == 12  # H(12) = -4.8 is the global minimum


def test_monotone_profiles():
    falling = -0.3 * np.arange(1, 8)
    nuc = nucleation_barrier(falling)
    assert nuc.status == "barrierless" and nuc.barrier_eV == 0.0 and nuc.critical_size == 0
    rising = 0.2 * np.arange(1, 8)
    nuc = nucleation_barrier(rising)
    assert nuc.status == "no-nucleation" and nuc.barrier_eV is None and nuc.critical_size is None
    assert practical_capacity(rising) == 0
    # a dip smaller than the tolerance is not nucleation
    assert nucleation_barrier([0.3, 0.5, 0.47, 0.6]).status == "no-nucleation"
    assert nucleation_barrier([0.3, 0.5, 0.47, 0.6], tol_eV=0.01).critical_size == 2


def test_practical_capacity_takes_largest_argmin():
    assert practical_capacity([0.2, -0.5, -1.0, -1.0, 0.5]) == 4


def test_enthalpy_and_voltage_helpers():
    e = np.array([-101.0, -102.5, -103.0])
    h = formation_enthalpies(e, -100.0, -1.0)
    assert np.allclose(h, [0.0, -0.5, 0.0])
    v = step_voltages(e, -100.0, -1.0)
    assert np.allclose(v, [0.0, 0.5, -0.5])
    assert np.allclose(np.cumsum(-v), h)


def test_gravimetric_capacity_reference_number():
    # 16 Na, valence 0.9, 64 C: 2231.4 * 16 * 0.9 / 64 = 502.1 mAh/g
    q = gravimetric_capacity_mAh_g(16, 64 * 12.011, 0.9)
    assert q == pytest.approx(502.0, abs=1.0)
    assert 2231.4 * 16 * 0.9 / 64 == pytest.approx(q, abs=0.1)
    with pytest.raises(NafillInputError, match="valence"):
        gravimetric_capacity_mAh_g(16, 768.7, -0.1)


def test_mass_conventions():
    host = cavity(1.19)
    sym = host.get_chemical_symbols()
    assert host_mass_g_mol(sym) == pytest.approx(64 * 12.011)
    assert host_mass_g_mol(sym, host.arrays["wall"], "one-wall") == pytest.approx(32 * 12.011)
    conn = connected_pore((0.5, 1.2))
    s = conn.get_chemical_symbols()
    assert host_mass_g_mol(s, mass_convention="host") > host_mass_g_mol(s)
    with pytest.raises(NafillInputError, match="mass_convention"):
        host_mass_g_mol(sym, mass_convention="everything")


def test_capacity_report_bader_and_assumed():
    h = [0.3, 0.1, -0.4, -0.9, -1.2, -1.0]
    rep = capacity_report(synthetic_path(h, valence=0.9))
    assert rep.practical_na == 5 and rep.valence_source == "bader" and rep.valence == pytest.approx(0.9)
    assert rep.practical_mAh_g == pytest.approx(2231.4 * 5 * 0.9 / 64, rel=1e-4)
    rep1 = capacity_report(synthetic_path(h))
    assert rep1.valence == 1.0 and rep1.valence_source == "assumed"
    assert "assumed valence 1.00" in rep1.assumption


def test_d2_fit_recovers_coefficient():
    d = np.array([0.82, 1.05, 1.19, 1.48, 1.82, 2.18])
    fit = fit_barrier_vs_size(d, 0.75 * d**2)
    assert fit.a_eV_nm2 == pytest.approx(0.75, rel=1e-9) and fit.r2 == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = 0.75 * d**2 + 0.2 + rng.normal(0, 0.01, len(d))
    fit2 = fit_barrier_vs_size(d, noisy, with_offset=True)
    assert fit2.a_eV_nm2 == pytest.approx(0.75, abs=0.03)
    assert fit2.b_eV == pytest.approx(0.2, abs=0.05)
    assert fit2.r2 > 0.99
    with pytest.raises(NafillInputError):
        fit_barrier_vs_size([1.0], [0.5], with_offset=True)


def test_classical_nucleation_formulas():
    # confined barrier: pi gamma (2 + cos theta) d^2 / 12, by hand for gamma 0.2 J/m^2, 90 deg, 1 nm
    by_hand = np.pi * 0.2 * 2 * (1e-9) ** 2 / 12 / 1.602176634e-19
    assert confined_barrier_eV(1.0, 0.2, 90.0) == pytest.approx(by_hand)
    assert confined_barrier_eV(2.0, 0.2, 90.0) == pytest.approx(4 * by_hand)
    assert confined_critical_radius_nm(1.2, 90.0) == pytest.approx(0.6)
    # heterogeneous barrier at theta = 180 deg equals the homogeneous 16 pi g^3 / (3 dH^2)(Tm/dT)^2
    g, dh, tm, dt = 0.2, -2.0e8, 371.0, 10.0
    homo = 16 * np.pi * g**3 / (3 * dh**2) * (tm / dt) ** 2 / 1.602176634e-19
    assert classical_barrier_eV(g, dh, tm, dt, 180.0) == pytest.approx(homo)
    assert classical_barrier_eV(g, dh, tm, dt, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert classical_critical_radius_nm(g, dh, tm, dt) == pytest.approx(2 * 0.2 / 2e8 * 37.1 * 1e9)


def test_cross_path_analyses():
    sizes = [0.82, 1.19, 1.48, 1.82]
    paths = []
    for d in sizes:
        x = np.arange(1, 14)
        peak = 0.6 * d**2
        h = peak * (1 - ((x - 4) / 4.0) ** 2)  # max at x=4 with H = 0.6 d^2
        paths.append(synthetic_path(h, host=cavity(d)))
    table, fit = barrier_vs_size(paths)
    assert list(table["size_nm"]) == sizes
    assert fit.a_eV_nm2 == pytest.approx(0.6, rel=1e-6)
    orifices = [synthetic_path([-0.3, -0.2], host=orifice(0.45)), synthetic_path([0.4, 0.9], host=orifice(0.38))]
    scan = orifice_scan(orifices + paths)
    assert list(scan["spacing_nm"].unique()) == [0.38, 0.45]
    assert scan[scan.spacing_nm == 0.45]["favourable"].all()
    assert not scan[scan.spacing_nm == 0.38]["favourable"].any()
    conn = synthetic_path([0.1, 0.3, 0.2, -0.3, -0.8], host=connected_pore((0.5, 1.82)))
    comps = connected_comparison(paths + [conn])
    assert len(comps) == 1
    iso_barrier = 0.6 * 1.82**2
    assert comps[0].isolated_barrier_eV == pytest.approx(iso_barrier)
    assert comps[0].connected_barrier_eV == pytest.approx(0.3)
    assert comps[0].barrier_reduction_eV == pytest.approx(iso_barrier - 0.3)
    t = summary_table(paths)
    assert set(t["nucleation"]) == {"barrier"}


def test_profile_dataframe_columns():
    df = profile_dataframe(synthetic_path([0.3, -0.2]))
    assert list(df["n_na"]) == [1, 2]
    assert df["average_voltage_V"].iloc[1] == pytest.approx(0.1)
    assert df["H_per_na_eV"].iloc[1] == pytest.approx(-0.1)


# ------------------------------------------------------------------ experiment helpers
def test_closed_pore_volume_matches_samples():
    for name, s in HARD_CARBON_SAMPLES.items():
        assert closed_pore_volume_cm3_g(s["true_density_g_cm3"]) == pytest.approx(
            s["closed_pore_volume_cm3_g"], abs=0.0015), name
    with pytest.raises(NafillInputError, match="true_density_g_cm3"):
        closed_pore_volume_cm3_g(2.5)


def test_saxs_fit_recovers_parameters():
    q = np.geomspace(0.01, 0.5, 120)
    true = dict(A=2e-4, alpha=3.6, B=2e-4, a1=4.0, D=0.02)
    y = saxs_model(q, *true.values())
    fit = fit_saxs_closed_pores(q, y)
    assert fit.A == pytest.approx(true["A"], rel=0.01)
    assert fit.alpha == pytest.approx(true["alpha"], rel=0.01)
    assert fit.B == pytest.approx(true["B"], rel=0.01)
    assert fit.a1_A == pytest.approx(true["a1"], rel=0.01)
    assert fit.D == pytest.approx(true["D"], rel=0.01)
    assert fit.pore_diameter_nm == pytest.approx(2 * np.sqrt(10) * 4.0 / 10, rel=0.01)


def test_b_value_fit():
    v = np.array([0.1, 0.2, 0.5, 1.0, 2.0])
    fit = fit_b_value(v, 3.0 * v**0.62)
    assert fit.b == pytest.approx(0.62, rel=0.01) and fit.a == pytest.approx(3.0, rel=0.01)
    assert fit.regime == "mixed"
    assert fit_b_value(v, 2 * v**0.98).regime == "surface-controlled"
    assert fit_b_value(v, 2 * v**0.5).regime == "diffusion-controlled"


def test_xrd_helpers():
    # graphite (002) at 2theta = 26.55 deg with Cu K-alpha: d = 3.354 A
    assert bragg_spacing_A(26.55) == pytest.approx(3.354, abs=0.002)
    # 2theta for the samples' d002 round-trips
    two_theta = 2 * np.degrees(np.arcsin(1.5406 / (2 * 3.72)))
    assert bragg_spacing_A(two_theta) == pytest.approx(3.72)
    L = scherrer_size_nm(24.0, 4.0)
    assert L == pytest.approx(0.9 * 1.5406 / (np.radians(4.0) * np.cos(np.radians(12.0))) / 10)
    with pytest.raises(NafillInputError, match="fwhm_deg"):
        scherrer_size_nm(24.0, 0.0)


def test_analyze_cli_on_real_fill_and_corrupted(tmp_path, capsys):
    from nafill.cli import main

    out = tmp_path / "run"
    assert main(["fill", "--spacing-nm", "1.05", "--max-na", "5", "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cavity 1.05 nm (emt)" in text and "assumed valence 1.00" in text
    assert (out / "analysis" / "profile_0.png").stat().st_size > 1000
    assert main(["analyze", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["paths"][0]["n_steps"] == 5
    # truncated and corrupted documents fail with a clear message
    text = (out / "path.json").read_text()
    bad = tmp_path / "trunc.json"
    bad.write_text(text[: len(text) // 2])
    assert main(["analyze", str(bad)]) == 2
    assert "not valid JSON (truncated or corrupted?)" in capsys.readouterr().err
    broken = json.loads(text)
    del broken["steps"][1]["energy_eV"]
    bad.write_text(json.dumps(broken))
    assert main(["analyze", str(bad)]) == 2
    assert "step 1 lacks 'energy_eV'" in capsys.readouterr().err
    wrong = copy.deepcopy(json.loads(text))
    wrong["schema"] = "other"
    bad.write_text(json.dumps(wrong))
    assert main(["analyze", str(bad)]) == 2
    assert "not a nafill path document" in capsys.readouterr().err
