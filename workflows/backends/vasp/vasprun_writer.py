"""Writers of VASP-format outputs (vasprun.xml, OSZICAR, OUTCAR, CONTCAR, CHGCAR) for the stand-in.

The files are what pymatgen's ``Vasprun``/``Oszicar``/``Outcar``/``Chgcar`` and custodian's
handlers and validators read: every ionic step with its electronic steps, energies (eV), forces
(eV/A) and structure; the parameters custodian's handlers look at (NELM, NSW, IBRION, EDIFFG ...).

Energies are laid out as VASP lays them out with Gaussian smearing, with a small fixed entropy
term ``-TS`` = :data:`ENTROPY_EV`, so that the free energy F, the energy without entropy and the
sigma->0 energy E0 all differ (a reader that takes the wrong one is caught): ``F = E0 + (-TS)/2``,
``E_wo = E0 - (-TS)/2``. Two layouts of the ionic-step ``<energy>`` block (``vasp_major``):

* 6 (default, VASP 6.x): ``e_fr_energy = F``, ``e_wo_entrp = E_wo``, ``e_0_energy = E0``;
* 5 (VASP 5.x, its known bug): ``e_fr_energy = F``, ``e_wo_entrp = E0``, ``e_0_energy = -TS``.

The electronic-step blocks are right in both (``e_0_energy`` = E0 there), as in real files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from nafill.io import atomic_write_text

MASSES = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Na": 22.990, "Li": 6.94, "K": 39.098}
VERSIONS = {5: "5.4.4.18Apr17-6-g9f103f2a35", 6: "6.4.2"}
"""The ``<generator>`` version written for each layout."""
ENTROPY_EV = -0.004
"""The entropy term -TS (eV) of every written energy (Gaussian smearing)."""
ZVAL = {"H": 1.0, "C": 4.0, "N": 5.0, "O": 6.0, "Na": 7.0, "Li": 3.0, "K": 9.0}
"""Valence electrons of the default PAW potentials (Na_pv: 2p6 3s1 = 7)."""


@dataclass
class IonicStep:
    """One ionic step: structure (fractional), energy (eV), forces (eV/A), electronic energies."""

    frac: np.ndarray
    energy_eV: float
    """The sigma->0 energy E0 (the stand-in rounds it to 8 decimals, as VASP prints it)."""
    forces: np.ndarray
    scf_energies: list[float] = field(default_factory=list)


def _v(vec, fmt="{:18.10f}") -> str:
    return "<v>" + " ".join(fmt.format(float(x)) for x in vec) + " </v>"


def _i(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<i type="logical" name="{name}"> {"T" if value else "F"}  </i>'
    if isinstance(value, int):
        return f'<i type="int" name="{name}"> {value} </i>'
    if isinstance(value, float):
        return f'<i name="{name}"> {value:.10f} </i>'
    return f'<i type="string" name="{name}">{escape(str(value))}</i>'


def _structure_xml(name: str | None, cell: np.ndarray, frac: np.ndarray, selective=None) -> list[str]:
    head = f'<structure name="{name}" >' if name else "<structure>"
    rec = np.linalg.inv(cell).T
    lines = [head, " <crystal>", '  <varray name="basis" >']
    lines += ["   " + _v(r) for r in cell]
    lines += ["  </varray>", f'  <i name="volume"> {abs(np.linalg.det(cell)):.10f} </i>', '  <varray name="rec_basis" >']
    lines += ["   " + _v(r) for r in rec]
    lines += ["  </varray>", " </crystal>", ' <varray name="positions" >']
    lines += ["  " + _v(p) for p in frac]
    lines.append(" </varray>")
    if selective is not None:
        lines.append(' <varray type="logical" name="selective" >')
        lines += ['  <v type="logical" >' + " ".join("T" if f else "F" for f in row) + " </v>" for row in selective]
        lines.append(" </varray>")
    lines.append("</structure>")
    return lines


def write_vasprun(
    path: str | Path,
    incar: dict[str, Any],
    symbols: list[str],
    cell: np.ndarray,
    initial_frac: np.ndarray,
    selective,
    steps: list[IonicStep],
    mesh: tuple[int, int, int],
    potcar_titles: list[str],
    complete: bool = True,
    vasp_major: int = 6,
) -> None:
    """Write a vasprun.xml that pymatgen parses (``complete=False`` leaves it truncated);
    ``vasp_major`` = 5 writes VASP 5.x's ionic ``<energy>`` block (see the module docstring)."""
    if vasp_major not in VERSIONS:
        raise ValueError(f"vasp_major = {vasp_major!r} must be 5 or 6")
    mts = ENTROPY_EV  # -TS
    types: list[str] = []
    for s in symbols:
        if not types or types[-1] != s:
            types.append(s)
    counts = [sum(1 for s in symbols if s == t) for t in types]
    lines = ['<?xml version="1.0" encoding="ISO-8859-1"?>', "<modeling>", " <generator>",
             _i("program", "vasp"), _i("version", VERSIONS[vasp_major]), _i("subversion", "nafill-fake-vasp"),
             _i("platform", "LinuxIFC"), _i("date", "2026 01 01"), _i("time", "00:00:00"), " </generator>", " <incar>"]
    for k, v in incar.items():
        lines.append("  " + _i(k, v))
    lines += [" </incar>", " <kpoints>", '  <generation param="Gamma">',
              '   <v type="int" name="divisions">' + " ".join(str(int(m)) for m in mesh) + " </v>",
              '   <v name="usershift"> 0.0 0.0 0.0 </v>', "  </generation>",
              '  <varray name="kpointlist" >', "   <v> 0.0 0.0 0.0 </v>", "  </varray>",
              '  <varray name="weights" >', "   <v> 1.0 </v>", "  </varray>", " </kpoints>", " <parameters>",
              '  <separator name="electronic" >']
    params = {"PREC": "accurate", "ENCUT": float(incar.get("ENCUT", 400)), "NELM": int(incar.get("NELM", 60)),
              "EDIFF": float(incar.get("EDIFF", 1e-4)), "ISMEAR": int(incar.get("ISMEAR", 1)),
              "SIGMA": float(incar.get("SIGMA", 0.2)), "ISPIN": int(incar.get("ISPIN", 1)),
              "GGA": str(incar.get("GGA", "PE")), "LDAU": False, "LSORBIT": False, "NBANDS": 200,
              "NELECT": float(sum(ZVAL.get(s, 1.0) for s in symbols)), "NKPTS": 1}
    lines += ["   " + _i(k, v) for k, v in params.items()]
    lines += ["  </separator>", '  <separator name="ionic" >']
    ionic = {"NSW": int(incar.get("NSW", 0)), "IBRION": int(incar.get("IBRION", -1)),
             "EDIFFG": float(incar.get("EDIFFG", -0.01)), "ISIF": int(incar.get("ISIF", 2)), "POTIM": 0.5}
    lines += ["   " + _i(k, v) for k, v in ionic.items()]
    lines += ["  </separator>", " </parameters>", " <atominfo>", f"  <atoms> {len(symbols)} </atoms>",
              f"  <types> {len(types)} </types>", '  <array name="atoms" >', '   <dimension dim="1">ion</dimension>',
              '   <field type="string">element</field>', '   <field type="int">atomtype</field>', "   <set>"]
    for s in symbols:
        lines.append(f"    <rc><c>{s:2s}</c><c>{types.index(s) + 1:4d}</c></rc>")
    lines += ["   </set>", "  </array>", '  <array name="atomtypes" >', '   <dimension dim="1">type</dimension>',
              '   <field type="int">atomspertype</field>', '   <field type="string">element</field>',
              "   <field>mass</field>", "   <field>valence</field>", '   <field type="string">pseudopotential</field>',
              "   <set>"]
    for t, n, title in zip(types, counts, potcar_titles):
        lines.append(f"    <rc><c>{n:4d}</c><c>{t:2s}</c><c>{MASSES.get(t, 1.0):16.8f}</c>"
                     f"<c>{ZVAL.get(t, 1.0):16.8f}</c><c>{escape(title)}</c></rc>")
    lines += ["   </set>", "  </array>", " </atominfo>"]
    lines += _structure_xml("initialpos", cell, initial_frac, selective)
    for st in steps:
        lines.append(" <calculation>")
        scf = st.scf_energies or [st.energy_eV]
        for e in scf:
            lines += ["  <scstep>", '   <time name="dav"> 0.01 0.01 </time>', "   <energy>",
                      "    " + _i("e_fr_energy", float(e) + mts / 2), "    " + _i("e_wo_entrp", float(e) - mts / 2),
                      "    " + _i("e_0_energy", float(e)), "   </energy>", "  </scstep>"]
        lines += _structure_xml(None, cell, st.frac)
        lines.append('  <varray name="forces" >')
        lines += ["   " + _v(f) for f in st.forces]
        lines += ["  </varray>", '  <varray name="stress" >'] + ["   " + _v(r) for r in np.zeros((3, 3))]
        e0 = float(st.energy_eV)
        e_wo, e_0 = (e0, mts) if vasp_major == 5 else (e0 - mts / 2, e0)
        lines += ["  </varray>", "  <energy>", "   " + _i("e_fr_energy", e0 + mts / 2),
                  "   " + _i("e_wo_entrp", e_wo), "   " + _i("e_0_energy", e_0), "  </energy>",
                  '  <time name="totalsc"> 0.1 0.1 </time>', " </calculation>"]
    if complete:
        lines += _structure_xml("finalpos", cell, steps[-1].frac, selective)
        lines.append("</modeling>")
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_oszicar(path: str | Path, steps: list[IonicStep]) -> None:
    """OSZICAR: DAV lines per electronic step and one F= line per ionic step (pymatgen format)."""
    out = []
    prev = None
    for n, st in enumerate(steps, start=1):
        out.append("       N       E                     dE             d eps       ncg     rms          rms(c)")
        last = 0.0
        for k, e in enumerate(st.scf_energies or [st.energy_eV], start=1):
            de = e - last if k > 1 else e
            out.append(f"DAV: {k:3d}    {e: .12E}   {de: .5E}   {-abs(de) * 0.1: .5E}  1000   0.1E-01")
            last = e
        de = st.energy_eV - prev if prev is not None else st.energy_eV
        out.append(f"{n:4d} F= {st.energy_eV + ENTROPY_EV / 2: .8E} E0= {st.energy_eV: .8E}  d E ={de: .6E}")
        prev = st.energy_eV
    atomic_write_text(path, "\n".join(out) + "\n")


def write_outcar(path: str | Path, symbols: list[str], positions: np.ndarray, steps: list[IonicStep],
                 incar: dict[str, Any], finished: bool = True, vasp_major: int = 6) -> None:
    """OUTCAR with the blocks pymatgen's Outcar and custodian read (energies, forces, timing)."""
    out = [f" vasp.{VERSIONS[vasp_major]} (nafill fake-vasp stand-in)", "", f"   NIONS = {len(symbols):6d}",
           f"   NELM   = {int(incar.get('NELM', 60)):6d}", f"   NSW    = {int(incar.get('NSW', 0)):6d}",
           f"   EDIFFG = {float(incar.get('EDIFFG', -0.01)):.1E}",
           "   k-points           NKPTS =      1   k-points in BZ     NKDIM =      1   number of bands    NBANDS=    200",
           f"   ISPIN  =      {int(incar.get('ISPIN', 1))}    spin polarized calculation?",
           f"   ENCUT  = {float(incar.get('ENCUT', 400)):8.1f} eV",
           "   dimension x,y,z NGX =    48 NGY =   48 NGZ =  160",
           "   total plane-waves  NPLWV =  368640",
           f"   IBRION =    {int(incar.get('IBRION', -1))}    ionic relax: 0-MD 1-quasi-New 2-CG",
           f"   ISIF   =      {int(incar.get('ISIF', 2))}    stress and relaxation",
           f"   NELECT =     {sum(ZVAL.get(s, 1.0) for s in symbols):.4f}    total number of electrons", ""]
    for n, st in enumerate(steps, start=1):
        out.append(f"--------------------------------------- Iteration {n:6d}(   1)  ---------------------------------------")
        out += ["", " POSITION                                       TOTAL-FORCE (eV/Angst)",
                " -----------------------------------------------------------------------------------"]
        for p, f in zip(positions, st.forces):
            out.append(f" {p[0]:12.5f} {p[1]:12.5f} {p[2]:12.5f}    {f[0]:13.6f} {f[1]:13.6f} {f[2]:13.6f}")
        nel = sum(ZVAL.get(s, 1.0) for s in symbols)
        out += [f" number of electron {nel:15.7f} magnetization       0.0000000",
                " -----------------------------------------------------------------------------------",
                "    total drift:                                0.000000      0.000000      0.000000", "",
                "  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)", "  ---------------------------------------------------",
                f"  free  energy   TOTEN  = {st.energy_eV + ENTROPY_EV / 2:18.8f} eV", "",
                f"  energy  without entropy= {st.energy_eV - ENTROPY_EV / 2:18.8f}  "
                f"energy(sigma->0) = {st.energy_eV:18.8f}", ""]
    if finished:
        out += [" General timing and accounting informations for this job:",
                " ========================================================", "",
                "                  Total CPU time used (sec):        1.000",
                "                            User time (sec):        1.000",
                "                          System time (sec):        0.000",
                "                         Elapsed time (sec):        1.000", "",
                "                   Maximum memory used (kb):      100000.",
                "                   Average memory used (kb):          N/A", "",
                "                          Minor page faults:            1",
                "                          Major page faults:            0",
                "                 Voluntary context switches:            1"]
    atomic_write_text(path, "\n".join(out) + "\n")
