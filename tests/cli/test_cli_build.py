"""``nafill build``: formats, selective dynamics, one-line errors, nothing written on bad input."""

import json

import numpy as np
import pytest
from ase.io import read

from nafill.cli import main
from nafill.io import atoms_from_dict, atoms_to_dict, read_structure
from nafill.structures.pores import cavity


def test_build_cavity_poscar_freezes_carbon(tmp_path, capsys):
    out = tmp_path / "c182.vasp"
    assert main(["build", "cavity", "--spacing-nm", "1.82", "-o", str(out)]) == 0
    text = out.read_text()
    assert "Selective dynamics" in text
    assert text.count("F   F   F") == 64
    atoms = read(out)
    assert len(atoms) == 64
    z = np.sort(np.unique(np.round(atoms.positions[:, 2], 6)))
    assert z[1] - z[0] == pytest.approx(18.2, abs=1e-6)


@pytest.mark.parametrize("ext", [".extxyz", ".cif", ".json"])
def test_build_formats_round_trip(tmp_path, ext):
    out = tmp_path / f"o{ext}"
    assert main(["build", "orifice", "--spacing-nm", "0.5", "--stacking", "AA", "-o", str(out)]) == 0
    back = read_structure(out)
    ref = cavity(0.5, stacking="AA")
    assert len(back) == 64
    assert np.allclose(np.sort(back.positions[:, 2]), np.sort(ref.positions[:, 2]), atol=1e-5)
    assert set(back.arrays["wall"]) == {1, 2}


def test_build_connected_and_na_layers(tmp_path, capsys):
    out = tmp_path / "conn.extxyz"
    assert main(["build", "connected", "--spacings-nm", "0.5", "1.2", "1.82", "-o", str(out)]) == 0
    a = read(out)
    assert "H" in a.get_chemical_symbols()
    out2 = tmp_path / "l6.extxyz"
    assert main(["build", "na-layers", "--layers", "6", "-o", str(out2)]) == 0
    assert read(out2).get_chemical_symbols().count("Na") == 42


def test_build_sites_prints_counts(tmp_path, capsys):
    out = tmp_path / "c.vasp"
    main(["build", "cavity", "--spacing-nm", "1.19", "-o", str(out)])
    capsys.readouterr()
    assert main(["build", "sites", str(out)]) == 0
    text = capsys.readouterr().out
    assert "32 sites" in text and "-> 1 distinct" in text
    assert main(["build", "sites", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_before_symmetry"] == 32 and doc["n_distinct"] == 1


@pytest.mark.parametrize(
    "args,needle",
    [
        (["build", "cavity", "--spacing-nm", "0.2"], "--spacing-nm = 0.2 nm is outside the allowed range [0.3, 5] nm"),
        (["build", "cavity", "--spacing-nm", "6"], "--spacing-nm = 6 nm is outside"),
        (["build", "orifice", "--spacing-nm", "abc"], "'--spacing-nm'"),
        (["build", "na-layers", "--layers", "8"], "--layers = 8 is outside the allowed range [1, 7]"),
        (["build", "connected", "--spacings-nm", "1.2", "0.5"], "must increase"),
        (["build", "cavity", "--spacing-nm", "1.0", "--stacking", "ABC"], "'--stacking'"),
    ],
)
def test_bad_arguments_one_line_and_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "x.vasp"
    rc = main(args + ["-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_extension_refused(tmp_path, capsys):
    out = tmp_path / "x.foo"
    assert main(["build", "cavity", "--spacing-nm", "1.0", "-o", str(out)]) == 2
    assert "unknown extension" in capsys.readouterr().err
    assert not out.exists()


def test_unreadable_host_file(tmp_path, capsys):
    bad = tmp_path / "bad.vasp"
    bad.write_text("this is not a POSCAR\n")
    assert main(["build", "sites", str(bad)]) == 2
    assert "cannot read structure file" in capsys.readouterr().err
    assert main(["build", "sites", str(tmp_path / "missing.vasp")]) == 2


def test_atoms_dict_round_trip_is_exact():
    a = cavity(1.19)
    b = atoms_from_dict(json.loads(json.dumps(atoms_to_dict(a))))
    assert np.array_equal(a.positions, b.positions)
    assert np.array_equal(a.arrays["wall"], b.arrays["wall"])
    assert b.constraints[0].get_indices().tolist() == list(range(64))


def test_help_on_every_verb(capsys):
    for verb in (["--help"], ["build", "--help"], ["build", "cavity", "--help"],
                 ["build", "connected", "--help"], ["build", "sites", "--help"]):
        assert main(verb) == 0
    assert "nm" in capsys.readouterr().out
