"""nafill's one VASP reader on real VASP output (tests/files/vasp, see its SOURCES.md), against
pymatgen on every file; custodian's handlers and validators on real error output and on the
stand-in's."""

from __future__ import annotations

import gzip
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.constraints import FixAtoms, FixScaled

from nafill.errors import NafillRunError
from nafill.workflows.backends.vasp.reader import VaspReadError, free_atom_max_force, read_vasp_run

FILES = Path(__file__).resolve().parents[2] / "files" / "vasp"

# folder: (VASP version, ISIF, ionic steps, converged_electronic, converged_ionic, VASP 5 e_0 quirk in the file)
EXPECTED = {
    "v5_relax_sd_slab": ("5.4.1", 0, 15, True, True, True),
    "v5_relax_isif3_cell": ("5.3.5", 3, 28, True, True, True),
    "v5_relax_isif3_120atoms": ("5.3.3", 3, 3, True, True, True),
    "v5_static": ("5.4.1", 3, 1, True, True, True),
    "v5_unconverged_electronic": ("5.2.11", 3, 5, False, True, True),
    "v5_unconverged_ionic": ("5.4.1", 0, 2, True, False, True),
    "v6_relax_isif3": ("6.2.1", 3, 3, True, True, False),
    "v6_relax_isif3_smearing": ("6.4.2", 3, 3, True, True, False),
    "v6_unconverged_electronic": ("6.4.1", 2, 1, False, True, False),
}
TRUNCATED = ("truncated_cut", "truncated_custodian")


def _pymatgen(path):
    from pymatgen.io.vasp.outputs import Vasprun

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Vasprun(str(path), parse_potcar_file=False)


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def case(request):
    d = FILES / request.param
    return request.param, read_vasp_run(d), _pymatgen(d / "vasprun.xml.gz")


def test_file_set_is_what_sources_says():
    assert sorted(p.name for p in FILES.iterdir() if p.is_dir() and p.name.startswith("v")) == sorted(EXPECTED)
    total = sum(f.stat().st_size for f in FILES.rglob("*") if f.is_file())
    assert total < 5e6, f"{total} bytes"
    sources = (FILES / "SOURCES.md").read_text()
    assert all(name in sources for name in list(EXPECTED) + list(TRUNCATED))
    assert (FILES / "LICENSES" / "custodian-LICENSE.txt").is_file()
    assert (FILES / "LICENSES" / "atomate-LICENSE.txt").is_file()


def test_energy_equals_pymatgen_final_energy(case):
    name, r, vr = case
    assert r.ok and r.backend == "vasp"
    assert abs(r.energy_eV - float(vr.final_energy)) < 1e-6
    assert r.energy_eV < -1.0  # a real total energy, never the 0.000 / -0.03 of VASP 5's e_0 entry


def test_e0_quirk_is_where_expected(case):
    name, r, vr = case
    quirk = EXPECTED[name][5]
    last = vr.ionic_steps[-1]
    assert r.extra["e0_quirk"] is quirk
    if quirk:  # VASP 5: ionic e_0_energy holds -TS; e_wo_entrp holds the sigma->0 energy
        assert abs(last["e_0_energy"]) < 0.05 and abs(last["e_0_energy"] - r.energy_eV) > 1.0
        assert abs(last["e_wo_entrp"] - r.energy_eV) < 1e-6
    else:  # VASP 6: the block is right as written
        assert abs(last["e_0_energy"] - r.energy_eV) < 1e-8
    assert r.extra["energy_free_eV"] == pytest.approx(last["e_fr_energy"], abs=1e-10)


def test_vasp6_e_wo_entrp_is_not_sigma0():
    """Taking e_wo_entrp (right for 5.x files) would be wrong on 6.x with smearing."""
    r = read_vasp_run(FILES / "v6_relax_isif3_smearing")
    last = _pymatgen(FILES / "v6_relax_isif3_smearing" / "vasprun.xml.gz").ionic_steps[-1]
    assert abs(last["e_wo_entrp"] - r.energy_eV) > 0.03
    # sigma->0 = (F + E_wo)/2 for Gaussian smearing
    assert abs(0.5 * (last["e_fr_energy"] + last["e_wo_entrp"]) - r.energy_eV) < 1e-6


def test_version_isif_steps_converged(case):
    name, r, vr = case
    version, isif, n_steps, conv_e, conv_i, _ = EXPECTED[name]
    assert r.extra["vasp_version"].startswith(version) and vr.generator["version"].strip() == r.extra["vasp_version"]
    assert r.extra["vasp_major"] == int(version[0])
    assert r.extra["isif"] == isif == vr.parameters["ISIF"]
    assert r.n_ionic_steps == n_steps == len(vr.ionic_steps)
    assert (r.extra["converged_electronic"], r.extra["converged_ionic"]) == (conv_e, conv_i)
    assert (r.extra["converged_electronic"], r.extra["converged_ionic"]) == (vr.converged_electronic, vr.converged_ionic)
    assert r.converged == vr.converged


def test_final_structure_with_cell(case):
    name, r, vr = case
    atoms, ref = r.atoms(), vr.final_structure
    assert np.allclose(atoms.cell.array, ref.lattice.matrix, atol=1e-8)
    assert np.allclose(atoms.get_scaled_positions(wrap=False), ref.frac_coords, atol=1e-8)
    assert np.allclose(atoms.positions, ref.cart_coords, atol=1e-6)
    assert atoms.get_chemical_symbols() == [s.specie.symbol for s in ref]
    last = vr.ionic_steps[-1]["structure"]  # the last ionic step and final_structure coincide
    assert np.allclose(last.lattice.matrix, ref.lattice.matrix) and np.allclose(last.frac_coords, ref.frac_coords)
    assert r.extra["order"] is None


def _reference_fmax(vr):
    """Free-atom max force the simple way: atoms whose flags are all T (no file has partial flags)."""
    forces = np.array(vr.ionic_steps[-1]["forces"])
    sd = vr.final_structure.site_properties.get("selective_dynamics")
    if sd is None:
        return float(np.linalg.norm(forces, axis=1).max())
    sd = np.array(sd, bool)
    assert np.all(sd.all(axis=1) | ~sd.any(axis=1)), "partial flags: the simple reference does not apply"
    free = sd.all(axis=1)
    return float(np.linalg.norm(forces[free], axis=1).max()) if free.any() else 0.0


def test_free_atom_max_force_and_forces(case):
    name, r, vr = case
    assert np.allclose(r.extra["forces_eV_A"], vr.ionic_steps[-1]["forces"], atol=1e-10)
    assert abs(r.max_force_eV_A - _reference_fmax(vr)) < 1e-10


def test_selective_dynamics_become_fixatoms():
    r = read_vasp_run(FILES / "v5_relax_sd_slab")
    vr = _pymatgen(FILES / "v5_relax_sd_slab" / "vasprun.xml.gz")
    sd = np.array(vr.final_structure.site_properties["selective_dynamics"], bool)
    (fix,) = r.atoms().constraints
    assert isinstance(fix, FixAtoms)
    assert sorted(fix.get_indices().tolist()) == np.flatnonzero(~sd.any(axis=1)).tolist()
    # the frozen Ir atoms carry ~1 eV/A; the free ones are converged (EDIFFG = -0.05)
    all_atoms = float(np.linalg.norm(r.extra["forces_eV_A"], axis=1).max())
    assert all_atoms > 1.0 and r.max_force_eV_A < 0.05
    assert read_vasp_run(FILES / "v5_static").atoms().constraints == []


def test_isif3_cell_is_the_relaxed_one():
    r = read_vasp_run(FILES / "v5_relax_isif3_cell")
    vr = _pymatgen(FILES / "v5_relax_isif3_cell" / "vasprun.xml.gz")
    moved = np.abs(r.atoms().cell.array - vr.initial_structure.lattice.matrix).max()
    assert moved > 0.7  # keeping the input cell (as the old parser did) is 0.76 A off
    assert abs(r.atoms().get_volume() - vr.final_structure.volume) < 1e-8


def test_partial_flags_project_onto_free_lattice_directions():
    cell = np.array([[4.0, 0, 0], [2.0, 3.0, 0], [0, 0, 10.0]])
    forces = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 0.0], [0.0, 0.0, 9.0]])
    flags = np.array([[True, True, False], [True, True, True], [False, False, False]])
    # atom 0 may move in the a-b plane only: its force counts without the z part
    assert free_atom_max_force(forces, cell, flags) == pytest.approx(np.hypot(1.0, 2.0))
    assert free_atom_max_force(forces, cell, None) == pytest.approx(9.0)
    assert free_atom_max_force(forces, cell, np.zeros((3, 3), bool)) == 0.0


def test_order_file_is_applied_and_optional(tmp_path):
    d = tmp_path / "run"
    shutil.copytree(FILES / "v6_relax_isif3", d)
    plain = read_vasp_run(d)
    n = len(plain.atoms())
    order = list(range(n))[::-1]  # poscar = nafill[order]
    (d / "nafill_order.json").write_text(json.dumps(order))
    r = read_vasp_run(d)
    assert r.extra["order"] == order
    back = np.argsort(order)
    assert np.allclose(r.atoms().positions, plain.atoms().positions[back])
    assert np.allclose(r.extra["forces_eV_A"], np.array(plain.extra["forces_eV_A"])[back])
    assert r.energy_eV == plain.energy_eV
    # a template keeps nafill's own Atoms (tags, info) and takes the run's cell and positions
    template = r.atoms()
    template.set_tags(np.arange(n))
    template.info["pore_kind"] = "test"
    t = read_vasp_run(d, template=template).atoms()
    assert list(t.get_tags()) == list(range(n)) and t.info["pore_kind"] == "test"
    assert np.allclose(t.positions, r.atoms().positions)
    with pytest.raises(VaspReadError, match="do not match the structure sent to VASP"):
        read_vasp_run(d, template=template[::-1])
    (d / "nafill_order.json").write_text("[0, 0, 1]")
    with pytest.raises(VaspReadError, match=r"nafill_order\.json: not a permutation"):
        read_vasp_run(d)
    (d / "nafill_order.json").write_text(json.dumps(list(range(n + 1))))
    with pytest.raises(VaspReadError, match=r"nafill_order\.json: holds \d+ atoms but the run has"):
        read_vasp_run(d)
    (d / "nafill_order.json").unlink()
    with pytest.raises(VaspReadError, match=r"nafill_order\.json: missing"):
        read_vasp_run(d, order_file_optional=False)


def test_plain_vasprun_xml_reads_like_gz(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    with gzip.open(FILES / "v5_static" / "vasprun.xml.gz", "rb") as f:
        (d / "vasprun.xml").write_bytes(f.read())
    r = read_vasp_run(d)
    assert r.extra["vasprun"].endswith("vasprun.xml")
    assert r.energy_eV == read_vasp_run(FILES / "v5_static").energy_eV


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated_file_names_file_and_parser_reason(name):
    d = FILES / name
    with pytest.raises(VaspReadError) as err:
        read_vasp_run(d)
    msg = str(err.value)
    assert str(d / "vasprun.xml.gz") in msg and "\n" not in msg
    assert "truncated or malformed XML" in msg
    assert "XML parser: Premature end of data in tag" in msg


def test_other_failures_name_the_file(tmp_path):
    with pytest.raises(VaspReadError, match="not a folder"):
        read_vasp_run(tmp_path / "nowhere")
    with pytest.raises(VaspReadError, match=r"no vasprun\.xml or vasprun\.xml\.gz"):
        read_vasp_run(tmp_path)
    (tmp_path / "vasprun.xml").write_text("")
    with pytest.raises(VaspReadError, match=r"vasprun\.xml: truncated or malformed XML .*XML parser: no element found"):
        read_vasp_run(tmp_path)
    (tmp_path / "vasprun.xml").unlink()
    data = (FILES / "v5_static" / "vasprun.xml.gz").read_bytes()
    (tmp_path / "vasprun.xml.gz").write_bytes(data[: len(data) // 2])  # a cut gzip stream
    with pytest.raises(VaspReadError, match=r"vasprun\.xml\.gz: cannot read the file \(EOFError"):
        read_vasp_run(tmp_path)
    assert issubclass(VaspReadError, NafillRunError)


# ----------------------------------------------------------------------------- custodian
def test_custodian_validator_on_truncated_file_and_the_reason(tmp_path, caplog):
    """custodian's validator says only that the file is bad (the reason is in its log record)."""
    from custodian.vasp.validators import VasprunXMLValidator

    with gzip.open(FILES / "truncated_cut" / "vasprun.xml.gz", "rb") as f:
        (tmp_path / "vasprun.xml").write_bytes(f.read())
    with caplog.at_level("ERROR"):
        assert VasprunXMLValidator().check(str(tmp_path)) is True
    (record,) = [r for r in caplog.records if r.name == "VasprunXMLValidator"]
    assert record.getMessage() == "Failed to load vasprun.xml"
    assert "Premature end of data" in str(record.exc_info[1])
    with pytest.raises(VaspReadError, match="XML parser: Premature end of data in tag energy"):
        read_vasp_run(tmp_path)


def test_truncated_vasprun_under_custodian_reports_the_parsers_reason(tmp_path):
    """run_vasp under custodian, VASP leaving a truncated vasprun.xml: the error says why."""
    import sys

    from nafill.workflows.backends.vasp.runner import VaspRunError, run_vasp

    from nafill.structures.pores import bcc_sodium
    from nafill.workflows.backends.vasp.inputs import write_inputs

    d = write_inputs(bcc_sodium(), tmp_path / "run", nsw=0, potcar_spec=True)
    with gzip.open(FILES / "truncated_cut" / "vasprun.xml.gz", "rb") as f:
        (tmp_path / "cut.xml").write_bytes(f.read())
    script = tmp_path / "killed_vasp.py"
    script.write_text(f"import shutil\nshutil.copy({str(tmp_path / 'cut.xml')!r}, 'vasprun.xml')\nprint(' killed')\n")
    with pytest.raises(VaspRunError) as err:
        run_vasp(d, f"{sys.executable} {script}", handlers=[], polling_time_s=0.05)
    msg = str(err.value)
    assert "Validation failed: VasprunXMLValidator" in msg
    assert "vasprun.xml: truncated or malformed XML" in msg
    assert "XML parser: Premature end of data in tag energy line 1030" in msg


def _unzip_dir(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            if f.suffix == ".gz":
                with gzip.open(f, "rb") as g:
                    (dst / f.name[:-3]).write_bytes(g.read())
            else:
                shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture(scope="module")
def standin_faults(tmp_path_factory):
    """The stand-in's output of each fault it imitates, in one folder per fault."""
    import os
    import subprocess

    from nafill.structures.pores import cavity
    from nafill.structures.sites import add_guest, candidate_sites
    from nafill.workflows.backends.vasp.inputs import write_inputs

    host = cavity(1.05)
    a = add_guest(host, candidate_sites(host).positions[0])
    exe = shutil.which("nafill-fake-vasp")
    out = {}
    for fault in ("zbrent", "subspacematrix", "edddav", "unconverged-electronic", "unconverged-ionic"):
        d = write_inputs(a, tmp_path_factory.mktemp(fault), fmax_eV_A=0.05, nsw=20, potcar_spec=True)
        env = {**os.environ, "NAFILL_FAKE_VASP_FAULTS": fault}
        with open(d / "vasp.out", "w") as log:
            subprocess.run([exe], cwd=d, env=env, stdout=log, check=True)
        out[fault] = d
    return out


# real custodian fixture -> (VaspErrorHandler error, the stand-in's fault imitating it)
HANDLER_CASES = [
    ("vasp.zbrent", "zbrent", "zbrent"),
    ("vasp.subspace", "subspacematrix", "subspacematrix"),
    ("vasp.edddav", "edddav", "edddav"),
    ("vasp.edddav2", "edddav", "edddav"),
    ("vasp.eddrmm", "eddrmm", None),
]


@pytest.mark.parametrize(("log", "error", "fault"), HANDLER_CASES)
def test_vasp_error_handler_on_real_output_and_on_the_stand_in(tmp_path, monkeypatch, standin_faults, log, error,
                                                               fault):
    """custodian's VaspErrorHandler finds the same error, and takes the same actions, on real
    VASP output as on the stand-in's imitation (same inputs in both folders)."""
    from custodian.vasp.handlers import VaspErrorHandler

    d = _unzip_dir(FILES / "custodian_handlers", tmp_path / "real")
    monkeypatch.chdir(d)
    h = VaspErrorHandler(log)
    assert h.check(str(d)) is True
    assert error in h.errors
    if fault is None:
        return  # no stand-in fault imitates EDDRMM
    actions = {}
    for kind in ("real", "stand-in"):
        run = tmp_path / f"cmp-{kind}"
        shutil.copytree(standin_faults[fault], run)
        if kind == "real":
            with gzip.open(FILES / "custodian_handlers" / f"{log}.gz", "rb") as f:
                (run / "vasp.out").write_bytes(f.read())
        monkeypatch.chdir(run)
        h = VaspErrorHandler("vasp.out")
        assert h.check(str(run)) is True, kind
        c = h.correct(str(run))
        actions[kind] = (sorted(c["errors"]), json.dumps(c["actions"], sort_keys=True, default=str))
    assert actions["real"] == actions["stand-in"]


def test_unconverged_handlers_on_real_output_and_on_the_stand_in(tmp_path, standin_faults):
    from custodian.vasp.handlers import NonConvergingErrorHandler, PositiveEnergyErrorHandler, UnconvergedErrorHandler

    for name in ("v5_unconverged_electronic", "v5_unconverged_ionic", "v6_unconverged_electronic"):
        d = tmp_path / name
        shutil.copytree(FILES / name, d)
        assert UnconvergedErrorHandler(output_filename="vasprun.xml.gz").check(str(d)) is True, name
    for name in ("v5_relax_sd_slab", "v6_relax_isif3"):
        assert UnconvergedErrorHandler(output_filename="vasprun.xml.gz").check(str(FILES / name)) is False, name
    for fault in ("unconverged-electronic", "unconverged-ionic"):
        assert UnconvergedErrorHandler().check(str(standin_faults[fault])) is True, fault
    assert read_vasp_run(standin_faults["unconverged-electronic"]).extra["converged_electronic"] is False
    assert read_vasp_run(standin_faults["unconverged-ionic"]).extra["converged_ionic"] is False
    d = _unzip_dir(FILES / "custodian_handlers" / "nonconv", tmp_path / "nonconv")
    assert NonConvergingErrorHandler(nionic_steps=3).check(str(d)) is True  # 4 ionic steps, each at NELM = 10
    assert NonConvergingErrorHandler().check(str(d)) is False  # the default looks at 10 steps
    d = _unzip_dir(FILES / "custodian_handlers" / "positive_energy", tmp_path / "positive_energy")
    assert PositiveEnergyErrorHandler().check(str(d)) is True


def test_partial_flags_in_a_real_file(tmp_path):
    """No real file has partial flags: build one from a real file by editing the flags. The max
    force leaves out the fixed direction; the document keeps the fully fixed atoms (FixAtoms)."""
    with gzip.open(FILES / "v5_relax_sd_slab" / "vasprun.xml.gz", "rt") as f:
        text = f.read()
    first_free = '<v type="logical" >  T  T  T </v>'
    assert first_free in text
    d = tmp_path / "run"
    d.mkdir()
    (d / "vasprun.xml").write_text(text.replace(first_free, '<v type="logical" >  T  T  F </v>'))
    r = read_vasp_run(d)
    vr = _pymatgen(d / "vasprun.xml")
    flags = np.array(vr.final_structure.site_properties["selective_dynamics"], bool)
    assert (flags.any(axis=1) & ~flags.all(axis=1)).sum() >= 1
    cell = vr.final_structure.lattice.matrix
    assert r.max_force_eV_A == pytest.approx(free_atom_max_force(vr.ionic_steps[-1]["forces"], cell, flags))
    fixed = r.atoms().constraints[0].get_indices().tolist()
    assert fixed == np.flatnonzero(~flags.any(axis=1)).tolist()


# ----------------------------------------------------------------------------- stand-in, VASP 5 mode
def test_stand_in_vasp5_mode_writes_the_5x_quirk_and_reads_the_same(tmp_path, monkeypatch):
    """The same run in both modes: VASP 5's ionic e_0_energy is -TS, the reader's energy is the
    same to the last bit, and taking e_0_energy (the old parser) would be off by the whole energy."""
    import subprocess

    from nafill.structures.pores import cavity
    from nafill.structures.sites import add_guest, candidate_sites
    from nafill.workflows.backends.vasp.inputs import write_inputs
    from nafill.workflows.backends.vasp.vasprun_writer import ENTROPY_EV

    host = cavity(1.05)
    a = add_guest(host, candidate_sites(host).positions[0])
    runs = {}
    for major in ("5", "6"):
        d = write_inputs(a, tmp_path / f"v{major}", fmax_eV_A=0.05, nsw=30, potcar_spec=True)
        monkeypatch.setenv("NAFILL_FAKE_VASP_VERSION", major)
        subprocess.run([shutil.which("nafill-fake-vasp")], cwd=d, check=True, capture_output=True)
        runs[major] = (read_vasp_run(d), _pymatgen(d / "vasprun.xml"))
    (r5, vr5), (r6, vr6) = runs["5"], runs["6"]
    assert r5.extra["vasp_major"] == 5 and r5.extra["e0_quirk"] and not r6.extra["e0_quirk"]
    assert vr5.ionic_steps[-1]["e_0_energy"] == pytest.approx(ENTROPY_EV)
    assert r5.energy_eV == r6.energy_eV == float(vr5.final_energy) == float(vr6.final_energy)
    assert r5.energy_eV == round(r5.energy_eV, 8)
    # 6.x: F, E_wo and E0 all differ, so a reader taking e_wo_entrp or e_fr_energy is caught
    last6 = vr6.ionic_steps[-1]
    assert last6["e_fr_energy"] == pytest.approx(r6.energy_eV + ENTROPY_EV / 2, abs=1e-9)
    assert last6["e_wo_entrp"] == pytest.approx(r6.energy_eV - ENTROPY_EV / 2, abs=1e-9)
    assert r5.atoms().positions.tolist() == r6.atoms().positions.tolist()
    monkeypatch.setenv("NAFILL_FAKE_VASP_VERSION", "4")
    p = subprocess.run([shutil.which("nafill-fake-vasp")], cwd=tmp_path / "v5", capture_output=True, text=True)
    assert p.returncode == 2 and "NAFILL_FAKE_VASP_VERSION = '4' must be 5 or 6" in p.stdout
