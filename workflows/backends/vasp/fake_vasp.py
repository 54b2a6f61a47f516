"""``nafill-fake-vasp``: a stand-in ``vasp`` executable for dry runs and end-to-end tests.

Run it where ``vasp_std`` would run (custodian's ``vasp_cmd``). It reads INCAR, POSCAR (with
selective dynamics), KPOINTS and POTCAR or POTCAR.spec from the working directory, relaxes with a
surrogate backend (``$NAFILL_FAKE_VASP_CALCULATOR``, default ``emt``; energies shifted by a
constant per element, :data:`REFERENCE_ENERGY_EV`, so they look like VASP's) honouring NSW, IBRION
(-1: single point), EDIFFG (< 0: force threshold in eV/A) and the frozen atoms, and writes
CONTCAR, OSZICAR, OUTCAR and a vasprun.xml that pymatgen and custodian's validators accept; with
LCHARG/LAECHG it also writes CHGCAR, AECCAR0 and AECCAR2 holding a synthetic density whose Na
Bader valence is known (``$NAFILL_FAKE_VASP_NA_VALENCE``, default 0.85 e: each Na gives that
many electrons to the carbon atoms).

VASP version (``$NAFILL_FAKE_VASP_VERSION``, ``6`` by default or ``5``): which layout the files
have (:mod:`~nafill.workflows.backends.vasp.vasprun_writer`): VASP 6.4.2, or VASP 5.4.4 with its
known vasprun.xml bug (the ionic-step ``e_0_energy`` holds the entropy term -TS, ``e_wo_entrp``
the sigma->0 energy). Energies are rounded to 8 decimals (as VASP prints them) in both, so that
pymatgen's repair of the 5.x entry, which rounds to 8 decimals, gives the very same number: a fill
in either mode follows the same path with the same energies.

Fault injection (one fault per attempt, in order; attempts are counted in ``.fake_vasp_attempt``):
the file ``FAKE_VASP_FAULTS`` in the working directory (one name per line) or
``$NAFILL_FAKE_VASP_FAULTS`` (comma separated). Faults, printed as real VASP prints them so that
custodian's own handlers catch them:

* ``zbrent``: "ZBRENT: fatal error in bracketing" after two ionic steps;
* ``subspacematrix``: "WARNING: Sub-Space-Matrix is not hermitian in DAV";
* ``edddav``: "Error EDDDAV: Call to ZHEGV failed";
* ``unconverged-electronic``: the last ionic step uses all NELM electronic steps;
* ``unconverged-ionic``: all NSW ionic steps without reaching EDIFFG;
* ``crash``: a segmentation fault that leaves no vasprun.xml (not correctable).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np

from nafill.structures.geometry import host_indices
from nafill.workflows.backends.emt_surrogate import rigid_walls
from nafill.workflows.backends.registry import get_backend
from nafill.workflows.backends.vasp.bader import synthetic_density
from nafill.workflows.backends.vasp.vasprun_writer import (
    ENTROPY_EV,
    VERSIONS,
    IonicStep,
    ZVAL,
    write_oszicar,
    write_outcar,
    write_vasprun,
)

FAULTS = ("zbrent", "subspacematrix", "edddav", "unconverged-electronic", "unconverged-ionic", "crash")
FAULT_MESSAGES = {
    "zbrent": " ZBRENT: fatal error in bracketing\n     please rerun with smaller EDIFF, or copy CONTCAR\n"
              "     to POSCAR and continue",
    "subspacematrix": " WARNING: Sub-Space-Matrix is not hermitian in DAV            4   -7.97E-03",
    "edddav": " Error EDDDAV: Call to ZHEGV failed. Returncode =   7 1  16",
}
REFERENCE_ENERGY_EV = {"C": -9.2, "Na": -1.3, "H": -3.4, "O": -4.9, "N": -8.3, "Li": -1.9, "K": -1.1}
"""Per-atom constants added to the surrogate's energies so that totals look like VASP's (large and
negative: custodian's PositiveEnergyErrorHandler would otherwise fire). Constant per element, so
every formation enthalpy and step voltage is exactly the surrogate's."""
CORE_ELECTRONS = {"Na": 4.0, "C": 2.0, "O": 2.0, "H": 0.0}
WIDTHS_A = {"Na": 0.30, "C": 0.30, "O": 0.30, "H": 0.25}
GRID_SPACING_A = 0.25


def _faults_for_attempt(cwd: Path) -> tuple[str | None, int]:
    counter = cwd / ".fake_vasp_attempt"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    spec = ""
    if (cwd / "FAKE_VASP_FAULTS").exists():
        spec = (cwd / "FAKE_VASP_FAULTS").read_text().replace("\n", ",")
    elif os.environ.get("NAFILL_FAKE_VASP_FAULTS"):
        spec = os.environ["NAFILL_FAKE_VASP_FAULTS"]
    faults = [f.strip().lower() for f in spec.split(",") if f.strip()]
    for f in faults:
        if f not in FAULTS:
            print(f" ERROR: nafill-fake-vasp does not know the fault {f!r} (known: {', '.join(FAULTS)})")
            sys.exit(2)
    return (faults[attempt - 1] if attempt <= len(faults) else None), attempt


def _potcar_symbols(cwd: Path) -> list[str]:
    if (cwd / "POTCAR").exists():
        text = (cwd / "POTCAR").read_text(errors="replace")
        titles = re.findall(r"TITEL\s*=\s*\S+\s+(\S+)", text)
        return [t.split("_")[0] for t in titles]
    if (cwd / "POTCAR.spec").exists():
        return [line.split("_")[0].strip() for line in (cwd / "POTCAR.spec").read_text().split() if line.strip()]
    print(" ERROR: the file POTCAR (or POTCAR.spec for nafill-fake-vasp) is missing")
    sys.exit(1)


def _scf_energies(e: float, n: int, ediff: float) -> list[float]:
    """Electronic steps converging to ``e`` (the last change below EDIFF unless n == NELM)."""
    return [e + 10.0 ** (1 - k) if k < n else e for k in range(1, n + 1)]


def vasp_major() -> int:
    """The layout asked for by ``$NAFILL_FAKE_VASP_VERSION`` (5 or 6; default 6)."""
    value = os.environ.get("NAFILL_FAKE_VASP_VERSION", "6").strip()
    major = int(value.split(".")[0]) if value.split(".")[0].isdigit() else -1
    if major not in VERSIONS:
        print(f" ERROR: NAFILL_FAKE_VASP_VERSION = {value!r} must be 5 or 6")
        sys.exit(2)
    return major


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nafill-fake-vasp`` (arguments are ignored, like VASP's)."""
    from ase.constraints import FixAtoms
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

    cwd = Path.cwd()
    major = vasp_major()
    print(f" vasp.{VERSIONS[major]} (nafill-fake-vasp)")
    print(" running on    1 total cores (nafill-fake-vasp)")
    for name in ("INCAR", "POSCAR", "KPOINTS"):
        if not (cwd / name).exists():
            print(f" ERROR: the file {name} is missing")
            return 1
    fault, attempt = _faults_for_attempt(cwd)
    incar = Incar.from_file(str(cwd / "INCAR"))
    poscar = Poscar.from_file(str(cwd / "POSCAR"))
    kpoints = Kpoints.from_file(str(cwd / "KPOINTS"))
    symbols_potcar = _potcar_symbols(cwd)
    if symbols_potcar != poscar.site_symbols:
        print(f" ERROR: number of potentials on File POTCAR incompatible with number of species "
              f"({symbols_potcar} vs {poscar.site_symbols})")
        return 1
    if fault == "crash":
        (cwd / "vasprun.xml").unlink(missing_ok=True)
        print(" entering main loop")
        sys.stdout.flush()
        sys.stderr.write("forrtl: severe (174): SIGSEGV, segmentation fault occurred\n")
        return 174

    structure = poscar.structure
    atoms = AseAtomsAdaptor.get_atoms(structure)
    flags = structure.site_properties.get("selective_dynamics")
    frozen = [i for i, f in enumerate(flags) if not any(f)] if flags is not None else []
    nsw = int(incar.get("NSW", 0))
    ibrion = int(incar.get("IBRION", -1 if nsw == 0 else 0))
    ediffg = float(incar.get("EDIFFG", -0.05))
    nelm = int(incar.get("NELM", 60))
    ediff = float(incar.get("EDIFF", 1e-4))
    backend = get_backend(os.environ.get("NAFILL_FAKE_VASP_CALCULATOR", "emt"))
    calc = backend.calculator
    host = set(host_indices(atoms).tolist())
    free_host = bool(host - set(frozen))
    if free_host and backend.name == "emt":
        atoms.set_constraint(rigid_walls(atoms))
    elif frozen:
        atoms.set_constraint(FixAtoms(indices=frozen))
    atoms.calc = calc
    steps: list[IonicStep] = []

    e_shift = sum(REFERENCE_ENERGY_EV.get(s, 0.0) for s in atoms.get_chemical_symbols())

    def record():
        steps.append(IonicStep(atoms.get_scaled_positions(wrap=False).copy(),
                               round(float(atoms.get_potential_energy()) + e_shift, 8), atoms.get_forces().copy()))

    if nsw == 0 or ibrion == -1:
        record()
        converged_ionic = True
    else:
        fmax = -ediffg if ediffg < 0 else 0.05
        if fault == "unconverged-ionic":
            fmax = -1.0  # never reached: all NSW steps are used
        max_steps = 2 if fault in FAULT_MESSAGES else nsw
        opt = BFGS(atoms, logfile=None, maxstep=0.2)
        opt.attach(record, interval=1)
        converged_ionic = bool(opt.run(fmax=fmax, steps=max_steps - 1))
        if len(steps) > nsw:
            steps[:] = steps[:nsw]
    for k, st in enumerate(steps):
        n_scf = nelm if (fault == "unconverged-electronic" and k == len(steps) - 1) else min(6, nelm)
        st.scf_energies = _scf_energies(st.energy_eV, n_scf, ediff)
        if n_scf == nelm and fault == "unconverged-electronic":
            st.scf_energies[-1] = st.energy_eV + 10 * ediff  # still changing: not converged

    # ---- outputs
    final = atoms.copy()
    final.set_constraint()
    final_structure = AseAtomsAdaptor.get_structure(final)
    if flags is not None:
        final_structure.add_site_property("selective_dynamics", flags)
    Poscar(final_structure).write_file(str(cwd / "CONTCAR"))
    symbols = [s.specie.symbol for s in structure]
    cell = structure.lattice.matrix
    incar_dict = {k: v for k, v in incar.items()}
    titles = [f"PAW_PBE {s} 06Sep2000" for s in poscar.site_symbols]
    write_vasprun(cwd / "vasprun.xml", incar_dict, symbols, cell, structure.frac_coords,
                  flags, steps, tuple(kpoints.kpts[0]), titles, vasp_major=major)
    write_oszicar(cwd / "OSZICAR", steps)
    write_outcar(cwd / "OUTCAR", symbols, final.positions, steps, incar_dict, vasp_major=major)
    if incar.get("LCHARG", False) or incar.get("LAECHG", False):
        _write_charge_files(cwd, final_structure, symbols, bool(incar.get("LAECHG", False)), ZVAL)
    for k, st in enumerate(steps, start=1):
        print(f"{k:4d} F= {st.energy_eV + ENTROPY_EV / 2: .8E} E0= {st.energy_eV: .8E}")
    if fault in FAULT_MESSAGES:
        print(FAULT_MESSAGES[fault])
    elif converged_ionic and nsw > 0:
        print(" reached required accuracy - stopping structural energy minimisation")
    print(" writing wavefunctions")
    return 0


def _write_charge_files(cwd: Path, structure, symbols: list[str], aeccar: bool, zval: dict) -> None:
    """CHGCAR (valence), AECCAR0 (core) and AECCAR2 (valence) with a known Na Bader valence."""
    from pymatgen.io.vasp.outputs import Chgcar

    valence_na = float(os.environ.get("NAFILL_FAKE_VASP_NA_VALENCE", "0.85"))
    cell = structure.lattice.matrix
    grid = tuple(max(8, int(np.ceil(np.linalg.norm(v) / GRID_SPACING_A))) for v in cell)
    n_na = symbols.count("Na")
    n_c = symbols.count("C")
    electrons = []
    for s in symbols:
        q = zval.get(s, 1.0)
        if s == "Na":
            q -= valence_na
        elif s == "C" and n_c:
            q += valence_na * n_na / n_c
        electrons.append(q)
    widths = np.array([WIDTHS_A.get(s, 0.3) for s in symbols])
    frac = structure.frac_coords
    valence = synthetic_density(cell, frac, np.array(electrons), widths, grid)
    from pymatgen.io.vasp.inputs import Poscar

    poscar = Poscar(structure)
    Chgcar(poscar, {"total": valence}).write_file(str(cwd / "CHGCAR"))
    if aeccar:
        core = synthetic_density(cell, frac, np.array([CORE_ELECTRONS.get(s, 0.0) + 1e-9 for s in symbols]),
                                 widths * 0.5, grid)
        Chgcar(poscar, {"total": core}).write_file(str(cwd / "AECCAR0"))
        Chgcar(poscar, {"total": valence}).write_file(str(cwd / "AECCAR2"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
