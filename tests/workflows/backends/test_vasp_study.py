"""A filling study on the VASP stand-in, as a cluster user would run it: charge files only where
they are needed, the same path in VASP 5 mode, and the study's folders imported back
(``nafill import vasp``) into the same path.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nafill.cli import main
from nafill.structures.pores import cavity
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.backends.vasp.reader import read_vasp_run
from nafill.workflows.engine.loop import fill
from nafill.workflows.engine.policy import FillingPolicy

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.slow]

FAKE = shutil.which("nafill-fake-vasp") or "nafill-fake-vasp"
POLICY = dict(max_na=3, n_candidates=3, prescreen=None, refine_trials=0, screen_calculator=None)  # single fidelity
CHARGE_FILES = ("CHGCAR", "AECCAR0", "AECCAR1", "AECCAR2", "CHG", "WAVECAR")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A local fill of a 1.05 nm cavity on the stand-in, Bader on (references computed afresh)."""
    root = tmp_path_factory.mktemp("vasp_study")
    backend = get_backend("vasp", vasp_cmd=FAKE, potcar_spec=True, polling_s=0.05, bader=True,
                          workdir=str(root / "runs"))
    path = fill(cavity(1.05), backend, FillingPolicy(**POLICY), out_dir=root / "run", use_cache=False)
    return root, path


def test_charge_files_only_in_the_kept_structures_folders(study):
    root, path = study
    runs = sorted((root / "runs").iterdir())
    with_charges = [d for d in runs if any((d / f).exists() for f in CHARGE_FILES)]
    kept = [d for d in runs if d.name.startswith("kept-")]
    assert len(kept) == len(path.steps) == 3  # one static per step, on its kept structure
    assert with_charges == kept
    assert not any((d / "WAVECAR").exists() for d in runs)
    relaxations = [d for d in runs if d.name.startswith("relax-")]
    assert len(relaxations) == sum(s["n_relaxed"] for s in path.steps)
    for d in runs:
        incar = (d / "INCAR").read_text()
        charges = "LCHARG = True" in incar and "LAECHG = True" in incar
        assert charges == (d in kept), d.name
    for step, d in zip(path.steps, kept):
        assert d.name.startswith(f"kept-{step['n_na']}Na-")
        assert step["kept_analysis"]["directory"] == str(d) and step["kept_analysis"]["error"] is None
        assert step["na_bader_valence"] == pytest.approx(0.85, abs=0.02)  # the stand-in's density
        r = read_vasp_run(d)
        assert r.energy_eV == step["energy_eV"]  # the static on the kept structure itself
        kept_atoms = np.array(step["structure"]["positions"])
        assert np.allclose(r.atoms().positions, kept_atoms, atol=1e-6)
    assert path.policy["fmax_eV_A"] == 0.01


def _folder_with(runs: Path, prefix: str, energy: float, n_na: int | None = None, per_atom: bool = False,
                 positions=None, lattice_A: float | None = None) -> Path:
    """The run folder of ``runs`` whose energy (per atom) is exactly ``energy`` (and, given
    ``positions``, whose final structure is that one: symmetry-equivalent candidates can relax
    to the same energy; given ``lattice_A``, the bcc cell of that lattice constant: the energy
    is flat at the minimum, so the scan point next to it can have the same 8-decimal energy)."""
    for d in sorted(runs.glob(f"{prefix}-*")):
        r = read_vasp_run(d)
        atoms = r.atoms()
        e = r.energy_eV / len(atoms) if per_atom else r.energy_eV
        n = atoms.get_chemical_symbols().count("Na")
        if e == energy and (n_na is None or n == n_na) and (
                positions is None or np.allclose(atoms.positions, positions, atol=1e-6)) and (
                lattice_A is None or abs((2 * atoms.get_volume() / len(atoms)) ** (1 / 3) - lattice_A) < 1e-6):
            return d
    raise AssertionError(f"no {prefix} folder with energy {energy}")


def _as_hand_made(src: Path, dst: Path) -> Path:
    """A copy without nafill's order file (as a study done by hand has none): VASP's order."""
    shutil.copytree(src, dst)
    (dst / "nafill_order.json").unlink()
    return dst


@pytest.fixture(scope="module")
def hand_study(study, tmp_path_factory):
    root, path = study
    runs = root / "runs"
    hand = tmp_path_factory.mktemp("hand")
    host = _as_hand_made(_folder_with(runs, "static", path.reference["e_host_eV"], n_na=0), hand / "host")
    bulk = _as_hand_made(_folder_with(runs, "static", path.reference["mu_na_eV"], per_atom=True,
                                      lattice_A=path.reference["bcc_lattice_A"]), hand / "bcc")
    steps = [_as_hand_made(_folder_with(runs, "relax", s["energy_eV"], n_na=s["n_na"],
                                        positions=np.array(s["structure"]["positions"])), hand / f"step{s['n_na']}")
             for s in path.steps]
    return hand, host, bulk, steps


def test_import_reproduces_the_fills_path_exactly_and_analyze_reads_it(study, hand_study, capsys):
    root, path = study
    hand, host, bulk, steps = hand_study
    out = hand / "imported"
    rc = main(["import", "vasp", "--host", str(host), "--bulk-na", str(bulk), *map(str, steps), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "path.json").read_text())
    assert doc["reference"]["e_host_eV"] == path.reference["e_host_eV"]
    assert doc["reference"]["mu_na_eV"] == path.reference["mu_na_eV"]
    assert doc["reference"]["bcc_lattice_A"] == pytest.approx(path.reference["bcc_lattice_A"], abs=1e-6)
    for key in ("n_na", "energy_eV", "formation_enthalpy_eV", "step_voltage_V"):
        assert [s[key] for s in doc["steps"]] == [s[key] for s in path.steps], key
    for mine, theirs in zip(doc["steps"], path.steps):  # the same structures, in VASP's order
        a, b = np.array(mine["structure"]["positions"]), np.array(theirs["structure"]["positions"])
        assert np.allclose(np.sort(a, axis=0), np.sort(b, axis=0), atol=1e-6)
    assert doc["summary"]["formation_enthalpy_final_eV"] == path.summary["formation_enthalpy_final_eV"]
    assert doc["reference"]["theoretical_capacity_na"] == path.reference["theoretical_capacity_na"]
    assert (out / "path.extxyz").is_file()
    capsys.readouterr()
    assert main(["analyze", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report and (out / "analysis").is_dir()


def _refused(capsys, args, out: Path, *expected: str) -> str:
    rc = main(["import", "vasp", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    assert not out.exists()  # nothing written
    return err


def test_bad_folders_are_refused_by_name_with_nothing_written(hand_study, tmp_path, capsys):
    hand, host, bulk, steps = hand_study
    out = tmp_path / "never"
    ok = ["--host", str(host), "--bulk-na", str(bulk)]
    # a step folder without vasprun
    empty = tmp_path / "no_vasprun"
    shutil.copytree(steps[1], empty)
    (empty / "vasprun.xml").unlink()
    _refused(capsys, [*ok, str(steps[0]), str(empty)], out, f"step folder {empty}",
             "no vasprun.xml or vasprun.xml.gz in this folder")
    # a truncated vasprun
    cut = tmp_path / "cut"
    shutil.copytree(steps[1], cut)
    text = (cut / "vasprun.xml").read_text()
    (cut / "vasprun.xml").write_text(text[: len(text) // 2])
    _refused(capsys, [*ok, str(cut)], out, f"step folder {cut}", "truncated or malformed XML", "XML parser:")
    # Na counts not increasing
    _refused(capsys, [*ok, str(steps[1]), str(steps[0])], out, f"step folder {steps[0]}", "holds 1 Na, not more than",
             "increasing Na count")
    _refused(capsys, [*ok, str(steps[0]), str(steps[0])], out, "holds 1 Na, not more than the 1 Na")
    # a step on another host (a wider cavity), and a host folder that holds Na
    other = get_backend("vasp", vasp_cmd=FAKE, potcar_spec=True, polling_s=0.05, bader=False,
                        workdir=str(tmp_path / "other"))
    from nafill.structures.sites import add_guest, candidate_sites

    for name, pore, why in (("wider", cavity(1.19), "its cell differs from that of --host"),
                            ("aa", cavity(1.05, stacking="AA"), f"from its place in --host {host}")):
        r = other.single_point(add_guest(pore, candidate_sites(pore).positions[0]))
        assert r.ok
        moved = _as_hand_made(Path(r.extra["directory"]), tmp_path / name)
        _refused(capsys, [*ok, str(steps[0]), str(moved)], out, f"step folder {moved}", why)
    _refused(capsys, ["--host", str(steps[0]), "--bulk-na", str(bulk), str(steps[1])], out,
             f"--host {steps[0]}: holds 1 Na")
    _refused(capsys, ["--host", str(host), "--bulk-na", str(host), str(steps[0])], out,
             f"--bulk-na {host}: holds C64", "only Na atoms")
    _refused(capsys, ["--host", str(tmp_path / "nowhere"), "--bulk-na", str(bulk), str(steps[0])], out,
             "--host", "not a folder")
    # an existing run is not overwritten
    out.mkdir()
    (out / "path.json").write_text("{}")
    rc = main(["import", "vasp", *ok, str(steps[0]), "--out", str(out)])
    assert rc == 2 and "holds a run already" in capsys.readouterr().err
    assert (out / "path.json").read_text() == "{}"


def test_fireworks_fill_in_vasp5_mode_gives_the_default_stand_ins_path(tmp_path, monkeypatch):
    """End to end through FireWorks: the stand-in writing VASP 5.x files (the ionic e_0_energy
    holds -TS) gives the very same path, references included, as the default (VASP 6) stand-in."""
    from nafill.workflows.fireworks.builders import filling_workflow
    from nafill.workflows.fireworks.env import FWorker
    from nafill.workflows.fireworks.launchpad import open_launchpad
    from nafill.workflows.fireworks.runner import path_document, run_launchpad

    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(tmp_path / "store.json"))
    paths = {}
    with open_launchpad() as lp:
        for major in ("6", "5"):
            monkeypatch.setenv("NAFILL_FAKE_VASP_VERSION", major)
            monkeypatch.setenv("NAFILL_CACHE_DIR", str(tmp_path / f"cache{major}"))  # references in each mode
            options = dict(vasp_cmd=">>vasp_cmd<<", potcar_spec=True, polling_s=0.05, bader=False,
                           workdir=str(tmp_path / f"runs{major}"))
            policy = FillingPolicy(max_na=2, n_candidates=2, prescreen=None, refine_trials=0, screen_calculator=None)
            wf_id = min(lp.add_wf(filling_workflow(cavity(1.05), "vasp", options, policy)).values())
            run_launchpad(lp, wf_id, fworker=FWorker(env={"vasp_cmd": FAKE}))
            paths[major] = path_document(lp, wf_id)
    v6, v5 = paths["6"], paths["5"]
    assert v5.state["finished"] and len(v5.steps) == 2
    for key in ("mu_na_eV", "e_host_eV", "bcc_lattice_A"):
        assert v5.reference[key] == v6.reference[key], key
    for key in ("energy_eV", "formation_enthalpy_eV", "step_voltage_V", "candidate_energies_eV", "site_kind"):
        assert [s[key] for s in v5.steps] == [s[key] for s in v6.steps], key
    assert [s["structure"] for s in v5.steps] == [s["structure"] for s in v6.steps]
    # the VASP 5 runs really have the 5.x layout; the old parser's number would be -TS
    r5 = read_vasp_run(next((tmp_path / "runs5").glob("relax-*")))
    assert r5.extra["vasp_major"] == 5 and r5.extra["e0_quirk"] is True
    assert read_vasp_run(next((tmp_path / "runs6").glob("relax-*"))).extra["e0_quirk"] is False
