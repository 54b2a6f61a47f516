"""A table of bad inputs across the verbs: each refused by one line on stderr, exit status 2, and
nothing written (neither in the working folder nor in the nafill home / embedded store).

Runs in process (``nafill.cli.main``), so the whole table takes seconds. Host files with known
defects are written once per session by :func:`hosts`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from nafill.cli import main
from nafill.io import atoms_to_dict
from nafill.structures.pores import cavity


def _write_host(folder: Path, name: str, atoms: Atoms) -> None:
    (folder / name).write_text(json.dumps(atoms_to_dict(atoms)))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Defective hosts, and a finished 1-Na run to analyse (outside every test's work folder)."""
    d = tmp_path_factory.mktemp("hosts")
    good = cavity(1.19)
    nan = good.copy()
    nan.positions[5, 0] = np.nan
    dup = good + good[[3]]
    across = good.copy()  # walls 1 A apart across the periodic boundary along z
    z = across.positions[:, 2]
    across.positions[:, 2] -= z.min() - 0.5
    across.cell[2] = [0, 0, z.max() - z.min() + 1.0]
    single = good[good.positions[:, 2] < good.positions[:, 2].mean()]
    no_c = Atoms("Na4", positions=[[0, 0, 0], [3, 0, 0], [0, 3, 0], [3, 3, 0]], cell=[10, 10, 10], pbc=True)
    with_na = good + Atoms("Na", positions=[good.positions.mean(axis=0)])
    _write_host(d, "nan.json", nan)
    _write_host(d, "dup.json", dup)
    _write_host(d, "across.json", across)
    _write_host(d, "single.json", single)
    _write_host(d, "no_c.json", no_c)
    _write_host(d, "with_na.json", with_na)
    write(d / "na_only.extxyz", no_c)
    (d / "empty.json").write_text("")
    (d / "garbage.vasp").write_text("this is not a POSCAR\n1 2 3\n")
    (d / "garbage.json").write_text("{\"numbers\": [6]")
    (d / "good.json").write_text(json.dumps(atoms_to_dict(good)))
    (d / "dir.json").mkdir()
    run = d / "run1"
    assert main(["fill", "--spacing-nm", "1.05", "--max-na", "1", "--candidates", "4", "--engine", "local",
                 "--out", str(run), "-q"]) == 0
    (d / "bad_path.json").write_text("{\"schema\": 1")
    return d


H = "{hosts}"
OUT = "{work}/out"
FILL = ["fill", "--spacing-nm", "1.19", "--max-na", "2", "--out", OUT]
SUBMIT = ["submit", "fill", "--spacing-nm", "1.19", "--max-na", "2"]

BAD: list[tuple[str, list[str]]] = []


def bad(label: str, argv: list[str]) -> None:
    BAD.append((label, argv))


def _replace(argv, flag, value):
    out = list(argv)
    if flag in out:
        i = out.index(flag)
        if value is None:
            del out[i:i + 2]
        else:
            out[i + 1] = value
    else:
        out += [flag, value]
    return out


# ---- fill: every option --------------------------------------------------------------------
for v in ["abc", "-1", "0", "0.1", "0.29", "5.1", "6", "nan", "inf", "-inf", "8L", "1L", "", "1e9", "1,2"]:
    bad(f"fill spacing {v!r}", _replace(FILL, "--spacing-nm", v))
for v in [["0", "4"], ["4", "0"], ["-1", "4"], ["21", "4"], ["a", "b"], ["4", "x"]]:
    bad(f"fill supercell {v}", FILL + ["--supercell", *v])
for v in ["XY", "ab c", ""]:
    bad(f"fill stacking {v!r}", FILL + ["--stacking", v])
for v in ["bogus", "nomodule_xyz:f", "ase:nothing_here", "math:pi", "", ":"]:
    bad(f"fill calculator {v!r}", FILL + ["--calculator", v])
for v in ["bogus=1", "noequals", "=1", "maxstep_A=1=2x"]:
    bad(f"fill calc-option {v!r}", FILL + ["--calc-option", v])
for v in ["bogus=1", "noequals", "parameters_file={work}/nope.json", "parameters_file={work}/afile"]:
    bad(f"fill screen-option {v!r}", FILL + ["--screen", "surrogate", "--screen-option", v])
bad("fill screen-option without a screen", FILL + ["--screen-option", "maxstep_A=0.1"])
bad("fill screen-option with screen none", FILL + ["--screen", "none", "--screen-option", "maxstep_A=0.1"])
for v in ["0", "-1", "100000", "abc", "1.5", "nan"]:
    bad(f"fill max-na {v!r}", _replace(FILL, "--max-na", v))
for flag, values in {
    "--candidates": ["0", "-5", "abc", "10001"],
    "--prescreen": ["-1", "10001", "x"],
    "--prescreen-steps": ["-1", "x"],
    "--beam": ["0", "101", "-2"],
    "--nucleation-moves": ["-1", "101", "x"],
    "--fmax": ["0", "-0.1", "nan", "inf", "11", "x"],
    "--max-relax-steps": ["0", "-3", "x"],
    "--stop-rise-ev": ["0", "-1", "nan", "x"],
    "--stop-patience": ["0", "-1", "1001"],
    "--seed": ["-1", "abc", "4294967296"],
    "--workers": ["abc", "-1", "0.5", "300", "two"],
    "--engine": ["cloud", ""],
    "--fill-order": ["wide-first", ""],
}.items():
    for v in values:
        bad(f"fill {flag} {v!r}", FILL + [flag, v])
bad("study cavities bogus", ["study", "--out", "{work}/st", "--cavities", "measured"])
bad("study cavities found with sizes", ["study", "--out", "{work}/st", "--cavities", "found", "--cavities-nm", "1.2"])
bad("fill launchpad missing", FILL + ["--launchpad", "{work}/nope.yaml"])
bad("fill launchpad is a folder", FILL + ["--launchpad", "{work}"])
bad("fill out empty", _replace(FILL, "--out", ""))
bad("fill out blank", _replace(FILL, "--out", "   "))
bad("fill out is a file", _replace(FILL, "--out", "{work}/afile"))
bad("fill out under a file", _replace(FILL, "--out", "{work}/afile/sub"))
bad("fill no out", FILL[:-2])
bad("fill spacing and host", FILL + ["--host", f"{H}/good.json"])
bad("fill neither spacing nor host", ["fill", "--out", OUT])
for name in ["nan.json", "dup.json", "across.json", "single.json", "no_c.json", "with_na.json", "na_only.extxyz",
             "empty.json", "garbage.vasp", "garbage.json", "missing.json", "dir.json"]:
    bad(f"fill host {name}", ["fill", "--host", f"{H}/{name}", "--max-na", "2", "--out", OUT])
bad("fill unknown option --n-candidates", FILL + ["--n-candidates", "4"])
bad("fill unknown option --beam-width", FILL + ["--beam-width", "2"])
bad("fill unknown option --fmax-ev-a", FILL + ["--fmax-ev-a", "0.1"])
bad("fill max-na above capacity", _replace(FILL, "--max-na", "500"))

# ---- submit ----------------------------------------------------------------------------------
for v in ["abc", "0", "nan", "6"]:
    bad(f"submit spacing {v!r}", _replace(SUBMIT, "--spacing-nm", v))
for flag, v in [("--max-na", "0"), ("--max-na", "x"), ("--candidates", "0"), ("--prescreen", "-1"), ("--beam", "0"),
                ("--nucleation-moves", "-1"), ("--fmax", "0"), ("--fmax", "nan"), ("--seed", "-1"), ("--batch-size", "0"), ("--batch-size", "x"),
                ("--calculator", "bogus"), ("--calc-option", "bogus=1"), ("--calc-option", "x"),
                ("--spec", "noequals"), ("--launchpad", "{work}/nope.yaml"), ("--max-na", "500")]:
    bad(f"submit fill {flag} {v!r}", _replace(SUBMIT, flag, v) if flag in SUBMIT else SUBMIT + [flag, v])
for name in ["nan.json", "across.json", "single.json", "with_na.json", "dup.json", "no_c.json"]:
    bad(f"submit fill host {name}", ["submit", "fill", "--host", f"{H}/{name}"])
bad("submit fill both", SUBMIT + ["--host", f"{H}/good.json"])
bad("submit fill screen-option bogus", SUBMIT + ["--screen", "surrogate", "--screen-option", "bogus=1"])
bad("submit fill screen-option without a screen", SUBMIT + ["--screen-option", "maxstep_A=0.1"])
bad("submit orifice-scan none", ["submit", "orifice-scan", "--max-na", "1"])
bad("submit orifice-scan 0.1", ["submit", "orifice-scan", "--spacings-nm", "0.1"])
bad("submit orifice-scan nan", ["submit", "orifice-scan", "--spacings-nm", "nan"])
bad("submit connected one", ["submit", "connected", "--spacings-nm", "0.5"])
bad("submit connected x", ["submit", "connected", "--spacings-nm", "x"])
bad("submit spacing 0", ["submit", "spacing", "--layers", "0"])
bad("submit spacing 8", ["submit", "spacing", "--layers", "8"])
bad("submit spacing calc", ["submit", "spacing", "--layers", "2", "--calc-option", "bogus=1"])
bad("submit unknown", ["submit", "nothing"])

# ---- build -------------------------------------------------------------------------------------
for v in ["abc", "0", "-1", "nan", "9", "8L"]:
    bad(f"build cavity spacing {v!r}", ["build", "cavity", "--spacing-nm", v, "-o", "{work}/c.json"])
bad("build cavity supercell 0", ["build", "cavity", "--spacing-nm", "1.2", "--supercell", "0", "4", "-o", "{work}/c.json"])
bad("build cavity supercell -2", ["build", "cavity", "--spacing-nm", "1.2", "--supercell", "-2", "4", "-o", "{work}/c.json"])
bad("build cavity vacuum -1", ["build", "cavity", "--spacing-nm", "1.2", "--vacuum-a", "-1", "-o", "{work}/c.json"])
bad("build cavity vacuum nan", ["build", "cavity", "--spacing-nm", "1.2", "--vacuum-a", "nan", "-o", "{work}/c.json"])
bad("build cavity bad ext", ["build", "cavity", "--spacing-nm", "1.2", "-o", "{work}/c.xyz123"])
bad("build cavity no output", ["build", "cavity", "--spacing-nm", "1.2"])
bad("build cavity stacking", ["build", "cavity", "--spacing-nm", "1.2", "--stacking", "ABC", "-o", "{work}/c.json"])
bad("build orifice x", ["build", "orifice", "--spacing-nm", "x", "-o", "{work}/o.json"])
bad("build orifice 0.2", ["build", "orifice", "--spacing-nm", "0.2", "-o", "{work}/o.json"])
bad("build na-layers 0", ["build", "na-layers", "--layers", "0", "-o", "{work}/n.json"])
bad("build na-layers 8", ["build", "na-layers", "--layers", "8", "-o", "{work}/n.json"])
bad("build na-layers lattice", ["build", "na-layers", "--layers", "2", "--lattice-a", "-4", "-o", "{work}/n.json"])
bad("build connected one", ["build", "connected", "--spacings-nm", "0.5", "-o", "{work}/x.json"])
bad("build connected width", ["build", "connected", "--spacings-nm", "0.5", "1.2", "--width-a", "-1", "-o", "{work}/x.json"])
bad("build connected ny", ["build", "connected", "--spacings-nm", "0.5", "1.2", "--ny", "0", "-o", "{work}/x.json"])
bad("build sites missing", ["build", "sites", "{work}/missing.json"])
bad("build sites garbage", ["build", "sites", f"{H}/garbage.vasp"])
bad("build sites nan", ["build", "sites", f"{H}/nan.json"])
bad("build sites no carbon", ["build", "sites", f"{H}/no_c.json"])
bad("build sites single sheet", ["build", "sites", f"{H}/single.json"])
bad("build sites across", ["build", "sites", f"{H}/across.json"])
bad("build unknown", ["build", "sphere"])

# ---- analyze, thermo, neb ------------------------------------------------------------------
RUN = f"{H}/run1"
bad("analyze missing", ["analyze", "{work}/nope"])
bad("analyze bad json", ["analyze", f"{H}/bad_path.json"])
bad("analyze a host file", ["analyze", f"{H}/good.json"])
for flag, v in [("--gamma-j-m2", "nan"), ("--gamma-j-m2", "-1"), ("--gamma-j-m2", "inf"), ("--theta-deg", "200"),
                ("--theta-deg", "nan"), ("--tol-ev", "0"), ("--tol-ev", "nan"), ("--valence", "2"), ("--valence", "0"),
                ("--mass-convention", "none"), ("--plots", "{work}/afile"), ("--plots", "")]:
    bad(f"analyze {flag} {v!r}", ["analyze", RUN, flag, v, "--plots", "{work}/plots"] if flag != "--plots"
        else ["analyze", RUN, flag, v])
bad("thermo missing", ["thermo", "{work}/nope"])
bad("thermo steps 0", ["thermo", RUN, "--steps", "0", "--out", "{work}/t"])
bad("thermo steps 5", ["thermo", RUN, "--steps", "5", "--out", "{work}/t"])
bad("thermo temperature -1", ["thermo", RUN, "--temperatures", "-1", "--out", "{work}/t"])
bad("thermo temperature nan", ["thermo", RUN, "--temperatures", "nan", "--out", "{work}/t"])
bad("thermo calculator", ["thermo", RUN, "--calculator", "bogus", "--out", "{work}/t"])
bad("thermo calc-option", ["thermo", RUN, "--calc-option", "bogus=1", "--out", "{work}/t"])
bad("thermo out empty", ["thermo", RUN, "--out", ""])
bad("neb spacing 0.1", ["neb", "--spacings-nm", "0.1", "--out", "{work}/n"])
bad("neb spacing nan", ["neb", "--spacings-nm", "nan", "--out", "{work}/n"])
bad("neb images 0", ["neb", "--spacings-nm", "0.5", "--images", "0", "--out", "{work}/n"])
bad("neb fmax 0", ["neb", "--spacings-nm", "0.5", "--fmax", "0", "--out", "{work}/n"])
bad("neb calc-option", ["neb", "--spacings-nm", "0.5", "--calc-option", "bogus=1", "--out", "{work}/n"])
bad("neb out empty", ["neb", "--spacings-nm", "0.5", "--out", ""])
bad("neb out a file", ["neb", "--spacings-nm", "0.5", "--out", "{work}/afile"])

# ---- FireWorks verbs -----------------------------------------------------------------------
bad("export wf 0", ["export", "0", "--out", OUT])
bad("export wf x", ["export", "x", "--out", OUT])
bad("export out empty", ["export", "1", "--out", ""])
bad("export out a file", ["export", "1", "--out", "{work}/afile"])
bad("export launchpad missing", ["export", "1", "--out", OUT, "--launchpad", "{work}/nope.yaml"])
bad("run launch-dir a file", ["run", "--launch-dir", "{work}/afile"])
bad("run launch-dir empty", ["run", "--launch-dir", ""])
bad("run fworker missing", ["run", "--fworker", "{work}/nope.yaml"])
bad("run launchpad missing", ["run", "--launchpad", "{work}/nope.yaml"])
bad("status launchpad missing", ["status", "--launchpad", "{work}/nope.yaml"])
bad("status launchpad folder", ["status", "--launchpad", "{work}"])
bad("lpad store empty", ["lpad", "--store", "", "get_wflows"])
bad("unknown verb", ["fil"])


def _tree(*roots: Path) -> dict[str, int]:
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                out[str(p)] = p.stat().st_size if p.is_file() else -1
    return out


def test_table_is_large_enough():
    assert len(BAD) >= 150, len(BAD)


@pytest.mark.parametrize("label,argv", BAD, ids=[b[0] for b in BAD])
def test_bad_input_refused_one_line_exit_2_nothing_written(label, argv, hosts, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "afile").write_text("x")
    home = tmp_path / "home"
    monkeypatch.setenv("NAFILL_HOME", str(home))
    monkeypatch.setenv("NAFILL_LAUNCHPAD_STORE", str(home / "launchpad_store.json"))
    monkeypatch.delenv("NAFILL_LAUNCHPAD", raising=False)
    monkeypatch.chdir(work)
    args = [a.replace("{work}", str(work)).replace("{hosts}", str(hosts)) for a in argv]
    before = _tree(work, home) if home.exists() else _tree(work)
    rc = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("nafill: warning:")]
    assert rc == 2, (label, rc, err)
    assert len(lines) == 1 and lines[0].startswith("nafill: error:"), (label, err)
    after = _tree(work, home) if home.exists() else _tree(work)
    assert after == before, (label, sorted(set(after) - set(before)))
    for wrong in ("--n-candidates", "--beam-width", "--fmax-ev-a", "--n-images", "--spacing_nm", "--tol-ev-", "--vacuum_a"):
        if wrong not in args:
            assert wrong not in lines[0], (label, lines[0])
