"""The VASP path end to end on the stand-in ``nafill-fake-vasp``: inputs, custodian, parsing, Bader."""

import os
import shutil

import numpy as np
import pytest
from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

from nafill.errors import NafillInputError
from nafill.structures.pores import cavity
from nafill.structures.sites import add_guest, candidate_sites
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.backends.vasp.reader import VaspReadError, read_vasp_run
from nafill.workflows.backends.vasp.bader import bader_charges_numpy, synthetic_density
from nafill.workflows.backends.vasp.inputs import write_inputs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FAKE = shutil.which("nafill-fake-vasp") or "nafill-fake-vasp"


def _step_structure():
    host = cavity(1.82)
    return add_guest(host, candidate_sites(host).positions[0])


def fake_backend(tmp_path, **kw):
    opts = dict(vasp_cmd=FAKE, potcar_spec=True, polling_s=0.05, bader=False, workdir=str(tmp_path / "runs"))
    opts.update(kw)
    return get_backend("vasp", **opts)


PROTOCOL = {"GGA": "Pe", "ENCUT": 400.0, "EDIFF": 1e-6, "ISMEAR": 0, "SIGMA": 0.05, "IVDW": 11,
            "PREC": "Accurate", "LREAL": "Auto", "ALGO": "Normal", "NELM": 200, "LASPH": True,
            "LWAVE": False, "LCHARG": False, "LAECHG": False, "NCORE": 4, "KPAR": 1,
            "LDIPOL": True, "IDIPOL": 3}


def test_inputs_of_a_cavity_step_tag_by_tag(tmp_path, monkeypatch):
    """A relaxation of a cavity step with one Na (odd: spin-polarised), 16 cores."""
    monkeypatch.setenv("NAFILL_VASP_NCORES", "16")
    monkeypatch.delenv("NAFILL_VASP_NCORE", raising=False)
    monkeypatch.delenv("NAFILL_VASP_KPAR", raising=False)
    a = _step_structure()
    d = write_inputs(a, tmp_path / "step", fmax_eV_A=0.01, nsw=200, potcar_spec=True)
    incar = Incar.from_file(d / "INCAR")
    pos = Poscar.from_file(d / "POSCAR")
    symbols = [s.specie.symbol for s in pos.structure]
    mid = (a.positions[:32, 2].mean() + a.positions[32:64, 2].mean()) / 2 / a.cell[2, 2]
    expected = {**PROTOCOL, "EDIFFG": -0.01, "IBRION": 2, "ISIF": 2, "NSW": 200, "DIPOL": [0.5, 0.5, round(mid, 6)],
                "ISPIN": 2, "MAGMOM": [0.5 if s == "Na" else 0.0 for s in symbols]}
    assert dict(incar) == expected
    assert mid == pytest.approx(0.5, abs=1e-6)  # the cavity builder centres the pore in the cell
    kp = Kpoints.from_file(d / "KPOINTS")
    assert kp.style.name == "Gamma" and tuple(kp.kpts[0]) == (3, 3, 1)
    flags = pos.structure.site_properties["selective_dynamics"]
    assert symbols.count("C") == 64 and symbols.count("Na") == 1
    assert all(not any(f) for f, s in zip(flags, symbols) if s == "C")  # carbon frozen
    assert all(all(f) for f, s in zip(flags, symbols) if s == "Na")
    assert (d / "POTCAR.spec").read_text().split() == ["C", "Na_pv"]


def test_inputs_of_a_prescreen_single_point_tag_by_tag(tmp_path, monkeypatch):
    """A pre-screen single point with two Na (even: ISPIN 1), as the backend writes it."""
    monkeypatch.setenv("NAFILL_VASP_NCORES", "16")
    monkeypatch.delenv("NAFILL_VASP_NCORE", raising=False)
    monkeypatch.delenv("NAFILL_VASP_KPAR", raising=False)
    a = _step_structure()
    a = add_guest(a, a.positions[-1] + [2.0, 2.0, 3.0])
    d = write_inputs(a, tmp_path / "sp", nsw=0, potcar_spec=True)
    incar = Incar.from_file(d / "INCAR")
    assert dict(incar) == {**PROTOCOL, "NSW": 0, "IBRION": -1, "ISPIN": 1, "DIPOL": [0.5, 0.5, 0.5]}
    # D3-BJ, the dipole at the centre of mass or off, the spin policy and any INCAR override
    d2 = write_inputs(a, tmp_path / "sp2", nsw=0, ivdw=12, incar={"ENCUT": 520}, potcar_spec=True,
                      dipole="com", spin="on", parallel={"NCORE": 8, "KPAR": 2})
    inc2 = Incar.from_file(d2 / "INCAR")
    com = a.get_center_of_mass()[2] / a.cell[2, 2]
    assert inc2["IVDW"] == 12 and inc2["ENCUT"] == 520 and inc2["NSW"] == 0 and inc2["IBRION"] == -1
    assert inc2["DIPOL"][2] == pytest.approx(com, abs=1e-6) and inc2["ISPIN"] == 2
    assert (inc2["NCORE"], inc2["KPAR"]) == (8, 2) and "EDIFFG" not in inc2
    inc3 = Incar.from_file(write_inputs(a, tmp_path / "sp3", nsw=0, potcar_spec=True, dipole=None,
                                        spin="off") / "INCAR")
    assert not {"LDIPOL", "IDIPOL", "DIPOL", "MAGMOM"} & set(inc3) and inc3["ISPIN"] == 1
    # bulk bcc Na: no dipole correction, not spin-polarised
    from nafill.structures.pores import bcc_sodium

    inc4 = Incar.from_file(write_inputs(bcc_sodium(), tmp_path / "bcc", nsw=0, potcar_spec=True) / "INCAR")
    assert not {"LDIPOL", "IDIPOL", "DIPOL"} & set(inc4) and inc4["ISPIN"] == 1


def test_parallel_tags_from_settings_env_and_cores(monkeypatch):
    from nafill.workflows.backends.vasp.inputs import parallel_tags

    monkeypatch.delenv("NAFILL_VASP_NCORE", raising=False)
    monkeypatch.delenv("NAFILL_VASP_KPAR", raising=False)
    assert [parallel_tags(n_cores=n)["NCORE"] for n in (1, 2, 16, 48, 128)] == [1, 1, 4, 6, 8]
    assert parallel_tags(n_cores=128, kpar=2) == {"NCORE": 8, "KPAR": 2}
    assert parallel_tags(ncore=12, n_cores=128) == {"NCORE": 12, "KPAR": 1}
    monkeypatch.setenv("NAFILL_VASP_NCORE", "16")
    monkeypatch.setenv("NAFILL_VASP_KPAR", "4")
    assert parallel_tags(n_cores=128) == {"NCORE": 16, "KPAR": 4}
    with pytest.raises(NafillInputError, match="ncore = 'x' must be a positive integer"):
        parallel_tags(ncore="x")
    monkeypatch.setenv("SLURM_NTASKS", "64")
    monkeypatch.delenv("NAFILL_VASP_NCORES", raising=False)
    monkeypatch.delenv("NAFILL_VASP_NCORE")
    assert parallel_tags()["NCORE"] == 4  # 64 / KPAR 4 = 16 cores per k-group


def test_element_outside_the_potcar_map_is_refused(tmp_path):
    a = _step_structure()
    a[0].symbol = "Fe"
    with pytest.raises(NafillInputError, match=r"elements \['Fe'\] have no PAW potential"):
        write_inputs(a, tmp_path / "fe", potcar_spec=True)


def test_kpoints_scale_with_the_cell(tmp_path):
    from nafill.structures.pores import bcc_sodium
    from nafill.workflows.backends.vasp.inputs import kpoint_mesh

    assert kpoint_mesh(cavity(1.0, (6, 6))) == (2, 2, 1)
    assert kpoint_mesh(cavity(1.0, (2, 2))) == (6, 6, 1)
    assert kpoint_mesh(bcc_sodium()) == (16, 16, 16)


def test_stand_in_relaxation_equals_the_surrogate(tmp_path):
    a = _step_structure()
    vasp = fake_backend(tmp_path)
    r = vasp.relax(a, fmax_eV_A=0.05, max_steps=100)
    e = get_backend("emt").relax(a, fmax_eV_A=0.05, max_steps=100)
    assert r.ok and r.converged and r.corrections == []
    shift = 64 * -9.2 + -1.3  # the stand-in's constant per-element offsets
    assert r.energy_eV - shift == pytest.approx(e.energy_eV, abs=1e-6)
    assert np.allclose(r.atoms().positions, e.atoms().positions, atol=1e-5)
    assert r.max_force_eV_A <= 0.05
    assert set(r.as_dict()) == set(e.as_dict())  # the same document schema


@pytest.mark.parametrize(
    "fault,error",
    [("zbrent", "zbrent"), ("subspacematrix", "subspacematrix"), ("edddav", "edddav"),
     ("unconverged-electronic", "Unconverged"), ("unconverged-ionic", "Unconverged")],
)
def test_injected_faults_are_corrected_by_custodian(tmp_path, monkeypatch, fault, error):
    monkeypatch.setenv("NAFILL_FAKE_VASP_FAULTS", fault)
    r = fake_backend(tmp_path).relax(_step_structure(), fmax_eV_A=0.05, max_steps=60)
    assert r.ok, r.error
    assert r.converged
    assert r.corrections, "custodian should have corrected something"
    assert any(error in e for c in r.corrections for e in c["errors"])
    assert (tmp_path / "runs").exists()


def test_crash_without_vasprun_fails_the_candidate_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("NAFILL_FAKE_VASP_FAULTS", "crash")
    r = fake_backend(tmp_path).relax(_step_structure(), fmax_eV_A=0.05)
    assert not r.ok
    assert "failed under custodian" in r.error and "Validation" in r.error


def test_bader_valence_on_synthetic_density():
    host = cavity(1.19)
    a = add_guest(host, [1.0, 1.0, 10.0])
    a = add_guest(a, [4.5, 3.0, 13.0])
    cell = np.array(a.cell)
    frac = a.get_scaled_positions()
    sym = a.get_chemical_symbols()
    valence = 0.85
    q = np.array([7 - valence if s == "Na" else 4 + 2 * valence / 64 for s in sym])
    grid = tuple(int(np.ceil(np.linalg.norm(v) / 0.25)) for v in cell)
    data = synthetic_density(cell, frac, q, np.full(len(a), 0.3), grid)
    assert data.sum() / data.size == pytest.approx(q.sum(), rel=1e-12)
    charges = bader_charges_numpy(data, cell, frac)
    na = [i for i, s in enumerate(sym) if s == "Na"]
    got = 7 - charges[na]
    assert np.all(np.abs(got - valence) < 0.02)
    assert charges.sum() == pytest.approx(q.sum(), abs=0.05)  # what falls below the vacuum cut


def test_bader_through_the_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("NAFILL_FAKE_VASP_NA_VALENCE", "0.70")
    backend = fake_backend(tmp_path, bader=True)
    r = backend.relax(_step_structure(), fmax_eV_A=0.05)
    assert r.ok and "na_bader_valence" not in r.extra
    d = r.extra["directory"]
    assert not any((tmp_path / "runs" / d / f).exists() for f in ("CHGCAR", "AECCAR0", "AECCAR2", "WAVECAR"))
    out = backend.analyse_kept(r.atoms(), tmp_path / "kept")
    assert out["error"] is None and out["directory"] == str(tmp_path / "kept")
    assert out["na_bader_valence"] == pytest.approx(0.70, abs=0.02)
    incar = Incar.from_file(tmp_path / "kept" / "INCAR")
    assert incar["LCHARG"] and incar["LAECHG"] and incar["NSW"] == 0
    assert all((tmp_path / "kept" / f).is_file() for f in ("CHGCAR", "AECCAR0", "AECCAR2"))
    assert fake_backend(tmp_path, bader=False).analyse_kept(r.atoms()) == {}


def test_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    from pymatgen.core import SETTINGS

    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None)
    with pytest.raises(NafillInputError, match="PMG_VASP_PSP_DIR"):
        get_backend("vasp", vasp_cmd=FAKE)
    with pytest.raises(NafillInputError, match="POTCARs not found"):
        write_inputs(_step_structure(), tmp_path / "x")
    with pytest.raises(NafillInputError, match=r"handlers = \['NoSuchHandler'\] are unknown"):
        get_backend("vasp", vasp_cmd=FAKE, potcar_spec=True, handlers=["VaspErrorHandler", "NoSuchHandler"])
    d = write_inputs(_step_structure(), tmp_path / "bad", potcar_spec=True)
    (d / "vasprun.xml").write_text("<modeling><generator>broken")
    with pytest.raises(VaspReadError, match=r"bad/vasprun.xml: truncated or malformed XML .*XML parser: "):
        read_vasp_run(d)


def test_fireworks_fill_with_vasp_on_the_stand_in(tmp_path, monkeypatch):
    """Plan/relax/select on VASP (one Firework per candidate) gives the surrogate's own path."""
    from nafill.workflows.fireworks.env import FWorker

    from nafill.workflows.engine.loop import fill

    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.fireworks.runner import path_document, run_launchpad
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.launchpad import open_launchpad

    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(tmp_path / "store.json"))
    policy = dict(max_na=3, n_candidates=3, prescreen=None, screen_calculator=None)  # single fidelity
    options = dict(vasp_cmd=">>vasp_cmd<<", potcar_spec=True, polling_s=0.05, bader=False,
                   workdir=str(tmp_path / "runs"))
    wf = filling_workflow(cavity(1.05), "vasp", options, FillingPolicy(**policy))
    with open_launchpad() as lp:
        wf_id = min(lp.add_wf(wf).values())
        run_launchpad(lp, fworker=FWorker(env={"vasp_cmd": FAKE}))
        path = path_document(lp, wf_id)
        relax_fws = [d for d in lp.fireworks.find({"name": {"$regex": "relax"}})]
    ref = fill(cavity(1.05), get_backend("emt"), FillingPolicy(**policy, fmax_eV_A=0.01))
    assert path.policy["fmax_eV_A"] == 0.01  # vasp's default force threshold (EDIFFG = -0.01)
    assert len(path.steps) == 3 and path.state["finished"]
    assert len(relax_fws) == sum(s["n_relaxed"] for s in path.steps)  # one Firework per candidate
    h_vasp = [s["formation_enthalpy_eV"] for s in path.steps]
    h_emt = [s["formation_enthalpy_eV"] for s in ref.steps]
    assert np.allclose(h_vasp, h_emt, atol=1e-5)
    assert [s["site_kind"] for s in path.steps] == [s["site_kind"] for s in ref.steps]
    assert path.backend["name"] == "vasp"


def test_fireworks_ladder_keeps_vasp_out_of_the_plan_fireworks(tmp_path, monkeypatch):
    """Issue 13 on FireWorks: stand-in VASP screened by the surrogate, 1.19 nm to 4 Na. Every VASP
    run folder is attributed to the Firework whose launch (FireWorks' own launch records) was
    running when the stand-in wrote it: none to a plan Firework, and at most 3 VASP relaxations
    per Na on average."""
    from nafill.workflows.engine.policy import FillingPolicy
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.env import FWorker
    from nafill.workflows.fireworks.launchpad import open_launchpad
    from nafill.workflows.fireworks.runner import path_document, run_launchpad

    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(tmp_path / "store.json"))
    runs = tmp_path / "runs"
    options = dict(vasp_cmd=">>vasp_cmd<<", potcar_spec=True, polling_s=0.05, bader=False, workdir=str(runs))
    policy = FillingPolicy(max_na=4, screen_calculator="surrogate")
    with open_launchpad() as lp:
        wf_id = min(lp.add_wf(filling_workflow(cavity(1.19), "vasp", options, policy)).values())
        run_launchpad(lp, fworker=FWorker(env={"vasp_cmd": FAKE}))
        path = path_document(lp, wf_id)
        names = {d["fw_id"]: d["name"] for d in lp.fireworks.find({}, {"fw_id": 1, "name": 1})}
        windows, spent = [], {}
        for launch in lp.launches.find({}):
            spent.setdefault(names[launch["fw_id"]].split(": ")[1].split()[0], []).append(
                (launch.get("action") or {}).get("stored_data", {}).get("cost", {}))
            states = {h["state"]: h for h in launch["state_history"]}
            t0 = states["RUNNING"]["created_on"]
            t1 = states.get("COMPLETED", states["RUNNING"]).get("updated_on") or launch["time_end"]
            windows.append((_epoch(t0), _epoch(t1), names[launch["fw_id"]]))
    assert len(path.steps) == 4 and path.state["finished"]
    relax_dirs = sorted(runs.glob("relax-*"))
    vasp_dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(relax_dirs) == sum(s["cost"]["vasp"]["relaxations"] for s in path.steps)
    assert len(relax_dirs) / 4 <= 3.0
    assert sum(s["n_relaxed"] for s in path.steps) == len(relax_dirs)
    owners = []
    for d in vasp_dirs:
        t = (d / "vasprun.xml").stat().st_mtime
        owner = [name for a, b, name in windows if a - 0.01 <= t <= b + 0.01]
        assert len(owner) == 1, (d.name, owner)
        owners.append(owner[0])
    assert not [o for o in owners if ": plan" in o]
    # each Firework's own record of what it spent says the same
    assert all(set(c) <= {"surrogate"} for c in spent["plan"]) and any(spent["plan"])
    assert sum(c.get("vasp", {}).get("relaxations", 0) for c in spent["relax"]) == len(relax_dirs)
    assert all(": relax" in o for d, o in zip(vasp_dirs, owners) if d.name.startswith("relax-"))
    # the surrogate did the search: its evaluations dwarf the VASP ionic steps
    cost = path.summary["cost"]
    assert cost["surrogate"]["evaluations"] > cost["vasp"]["evaluations"]
    print(f"{len(relax_dirs)} VASP relaxations for 4 Na, {cost['vasp']['evaluations']} VASP ionic steps, "
          f"{cost['surrogate']['evaluations']} surrogate evaluations")  # the README's figure (pytest -s)


def _epoch(t) -> float:
    """A FireWorks launch-record time (naive UTC datetime or ISO string) in seconds since the epoch."""
    import datetime as dt

    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()


def test_corrections_recorded_in_the_step_document(tmp_path, monkeypatch):
    from nafill.workflows.engine.loop import fill
    from nafill.workflows.engine.policy import FillingPolicy

    monkeypatch.setenv("NAFILL_FAKE_VASP_FAULTS", "zbrent")
    backend = fake_backend(tmp_path)
    path = fill(cavity(1.05), backend, FillingPolicy(max_na=2, n_candidates=2, prescreen=None, screen_calculator=None))
    for s in path.steps:
        assert s["corrections"], "every relaxation hit ZBRENT once and was corrected"
        assert all("zbrent" in c["errors"] for c in s["corrections"])
    assert os.environ["NAFILL_FAKE_VASP_FAULTS"] == "zbrent"
